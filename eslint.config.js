// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * The shared leaf: the error catalogue, money, the clock port and the package root (with the
 * WSDL). config/ and simulator/ depend on these and on nothing else of the project.
 */
const SHARED_LEAF = [
  'daemon/errors.ts',
  'daemon/package-root.ts',
  'daemon/ports/clock.ts',
  'daemon/ports/money.ts',
];

/** The leaf files as import specifiers end: `errors|package-root|ports/clock|ports/money`. */
const LEAF_NAMES = SHARED_LEAF.map((file) => file.replace(/^daemon\/|\.ts$/g, '')).join('|');

/**
 * `folder` may import only itself, the shared leaf and packages.
 * @param {string} folder
 * @param {string[]} alsoForbidden
 * @returns {import('eslint').Linter.Config}
 */
function onlyTheLeaf(folder, alsoForbidden) {
  const message = `${folder}/ depends only on the shared leaf: ${SHARED_LEAF.join(', ')}.`;
  return {
    files: [`${folder}/**/*.ts`],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { regex: `(^|/)daemon/(?!(${LEAF_NAMES})\\.js$)`, message },
            { group: ['**/hardware/**', '**/bench/**', '**/test/**', ...alsoForbidden], message },
          ],
        },
      ],
    },
  };
}

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'test-results/**', 'bench/results/**'] },
  { linterOptions: { reportUnusedDisableDirectives: 'error' } },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      '@typescript-eslint/no-unnecessary-condition': [
        'error',
        { allowConstantLoopConditions: true },
      ],
    },
  },
  {
    // Production code never loads the demo's parts up front: the simulator, the kiosk and the
    // virtual hardware are imported with import() when the configuration asks for them. Types are
    // fine (erased). The kiosk itself is demo tooling and drives the simulator.
    files: ['daemon/**/*.ts', 'hardware/**/*.ts', 'config/**/*.ts'],
    ignores: ['daemon/kiosk/**'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/simulator/**', '**/kiosk/**', '**/hardware/virtual/**'],
              allowTypeImports: true,
              message:
                'Production code imports the simulator, the kiosk and the virtual hardware only with import(), when the configuration asks for them.',
            },
          ],
        },
      ],
    },
  },
  onlyTheLeaf('config', ['**/simulator/**']),
  onlyTheLeaf('simulator', ['**/config/**']),
  {
    // The shared leaf imports nothing of the project.
    files: SHARED_LEAF,
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [{ regex: '^\\.', message: 'The shared leaf imports nothing of the project.' }],
        },
      ],
    },
  },
  {
    // The core is pure: no I/O, no clock, no logger, no adapters.
    files: ['daemon/core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['node:*', 'fs', 'net', 'http', 'https', 'child_process'],
              message: 'daemon/core is pure: no I/O.',
            },
            { group: ['pino', 'soap'], message: 'daemon/core is pure: no logger, no SOAP.' },
            {
              regex: '^\\.\\./(?!(ports/[\\w-]+|errors)\\.js$)',
              message:
                'daemon/core imports nothing outside itself, the ports and the error catalogue.',
            },
          ],
        },
      ],
      'no-restricted-globals': ['error', 'Date', 'setTimeout', 'setInterval', 'process', 'console'],
    },
  },
  {
    files: ['hardware/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/daemon/runtime/**'],
              message: 'hardware/ may not depend on the runtime.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      'no-restricted-syntax': [
        'error',
        {
          selector:
            "CallExpression[callee.object.name='vi'][callee.property.name='mock'] > Literal[value=/^\\./]",
          message: "No vi.mock of the project's own modules: inject through the ports.",
        },
      ],
    },
  },
  {
    // Build tools are plain ESM run before the build; tsc checks their names (checkJs).
    files: ['build.mjs', 'systemd/package.mjs'],
    rules: { 'no-undef': 'off' },
  },
  {
    files: ['eslint.config.js'],
    ...tseslint.configs.disableTypeChecked,
  },
);
