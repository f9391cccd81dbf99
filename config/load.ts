/**
 * Reads config.yaml through the schema: every problem (YAML syntax, schema, cross-field checks,
 * misplaced secrets) is reported at once as `file:line: path: message`, then the result is
 * deep-frozen and passed down explicitly. An invalid configuration makes the daemon exit
 * {@link EXIT_CONFIG}, which the unit's `RestartPreventExitStatus=` turns into "stay failed".
 */
import { constants, readFileSync } from 'node:fs';
import { access } from 'node:fs/promises';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import type { z } from 'zod';
import { VendError } from '../daemon/errors.js';
import {
  readCredential,
  RESELLER_PASSWORD_CREDENTIAL,
  TERMINAL_PASSWORD_CREDENTIAL,
} from './credentials.js';
import {
  configSchema,
  environmentDefaults,
  formatPath,
  semanticIssues,
  type Config,
} from './schema.js';

/** `EX_CONFIG` from sysexits.h: the exit status for an invalid configuration. */
export const EXIT_CONFIG = 78;

/**
 * The exit status for an error that ends the daemon or a CLI command: {@link EXIT_CONFIG} for an
 * invalid configuration or credential (systemd then leaves the service stopped), 1 otherwise.
 */
export function exitCodeFor(err: unknown): number {
  return err instanceof VendError && err.code === 'E_CONFIG_INVALID' ? EXIT_CONFIG : 1;
}

/** The configuration file the unit and the CLI use unless `--config` says otherwise. */
export const DEFAULT_CONFIG_PATH = '/etc/seqr-vend/config.yaml';

/** An invalid configuration: `lines` holds every problem, one `file:line: path: message` each. */
export class ConfigError extends VendError {
  readonly lines: readonly string[];
  constructor(lines: readonly string[]) {
    super('E_CONFIG_INVALID', `invalid configuration:\n${lines.join('\n')}`);
    this.name = 'ConfigError';
    this.lines = lines;
  }
}

type PathKey = string | number;

interface Located {
  readonly line: number;
  readonly path: readonly PathKey[];
  readonly message: string;
}

/** Keys that look like a secret: they belong in a credential, never in the YAML. */
const SECRET_KEY = /pass(word|wd)?$|secret|token|api[-_]?key/i;

/**
 * Validates configuration `text` (the contents of `label`). Returns the frozen configuration, or
 * throws {@link ConfigError} (code E_CONFIG_INVALID) listing every problem.
 */
export function parseConfigText(text: string, label: string, env: NodeJS.ProcessEnv): Config {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const lineOf = (offset: number) => lineCounter.linePos(offset).line;
  const found: Located[] = [];

  for (const err of doc.errors)
    found.push({ line: lineOf(err.pos[0]), path: [], message: `YAML: ${firstLine(err.message)}` });
  if (doc.errors.length > 0) throw new ConfigError(render(label, found));

  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 }) ?? {};
  } catch (err) {
    // An alias bomb or an alias to nothing.
    throw new ConfigError(render(label, [{ line: 1, path: [], message: `YAML: ${String(err)}` }]));
  }
  const secretPaths = findSecretKeys(doc, lineOf);
  for (const { path, line } of secretPaths)
    found.push({
      line,
      path,
      message:
        'secrets do not belong in config.yaml; remove this key and put the terminal password in ' +
        `/etc/seqr-vend/credentials/${TERMINAL_PASSWORD_CREDENTIAL} (mode 0600, owner root), ` +
        'which the unit passes to the service with LoadCredential=',
    });

  const result = configSchema(environmentDefaults(env)).safeParse(raw);
  if (!result.success) {
    for (const issue of result.error.issues) {
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) {
          const path = [...(issue.path as PathKey[]), key];
          if (secretPaths.some((s) => formatPath(s.path) === formatPath(path))) continue;
          found.push({ line: lineAt(doc, path, lineOf, true), path, message: 'unknown key' });
        }
        continue;
      }
      const path = issue.path as PathKey[];
      found.push({
        line: lineAt(doc, path, lineOf),
        path,
        message: describeIssue(issue, valueAt(raw, path), sourceAt(doc, text, path)),
      });
    }
  }
  for (const issue of semanticIssues(raw))
    found.push({ line: lineAt(doc, issue.path, lineOf), path: issue.path, message: issue.message });

  if (found.length > 0 || !result.success) throw new ConfigError(render(label, found));
  return deepFreeze(result.data);
}

/** Reads and validates `path`; see {@link parseConfigText}. A missing file is E_CONFIG_INVALID too. */
export function loadConfig(path: string, env: NodeJS.ProcessEnv): Config {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new ConfigError([`${path}: cannot read the configuration file (${code})`]);
  }
  return parseConfigText(text, path, env);
}

/** The result of `seqr-vend check-config`: `ok` decides the exit status (0 or {@link EXIT_CONFIG}). */
export interface CheckResult {
  readonly ok: boolean;
  /** What to print: each problem on its own line, or one summary line when all is well. */
  readonly lines: readonly string[];
}

/**
 * Everything `seqr-vend check-config` checks: the file, and in production mode that the terminal
 * password (and, with end-of-day reports, the reseller password) credential and the CA file can
 * be read. Credentials are never printed.
 */
export async function checkConfig(path: string, env: NodeJS.ProcessEnv): Promise<CheckResult> {
  let config: Config;
  try {
    config = loadConfig(path, env);
  } catch (err) {
    if (err instanceof ConfigError) return { ok: false, lines: err.lines };
    throw err;
  }
  if (config.mode === 'production') {
    const problems: string[] = [];
    const needs: string[] = [TERMINAL_PASSWORD_CREDENTIAL];
    if (config.endOfDay !== undefined && config.seqr.reseller !== undefined)
      needs.push(RESELLER_PASSWORD_CREDENTIAL);
    for (const name of needs) {
      try {
        await readCredential(name, env, config.credentialsDirectory);
      } catch (err) {
        if (!(err instanceof VendError)) throw err;
        problems.push(`${path}: ${err.message}`);
      }
    }
    const caFile = config.seqr.caFile;
    if (caFile !== undefined) {
      try {
        await access(caFile, constants.R_OK);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? 'error';
        problems.push(`${path}: seqr.caFile: ${caFile} cannot be read (${code})`);
      }
    }
    if (problems.length > 0) return { ok: false, lines: problems };
  }
  const slots = config.products.map((p) => p.slot).join(', ');
  return {
    ok: true,
    lines: [
      `${path}: OK (${config.mode} mode, ${config.products.length} products: slots ${slots})`,
    ],
  };
}

/** Freezes `value` and everything reachable from it. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

function render(label: string, found: readonly Located[]): string[] {
  return [...found]
    .sort((a, b) => a.line - b.line)
    .map((f) =>
      f.path.length === 0
        ? `${label}:${f.line}: ${f.message}`
        : `${label}:${f.line}: ${formatPath(f.path)}: ${f.message}`,
    );
}

function firstLine(text: string): string {
  return text.split('\n')[0] ?? text;
}

/** The deepest node along `path`, and the key node of the last pair walked. */
function walk(doc: Document, path: readonly PathKey[]): { node: Node | null; key: Node | null } {
  let node = doc.contents;
  let key: Node | null = null;
  for (const step of path) {
    if (typeof step === 'number' && isSeq(node)) {
      const next = node.items[step];
      if (!next || typeof next !== 'object') break;
      node = next as Node;
      key = null;
    } else if (typeof step === 'string' && isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && p.key.value === step);
      if (!pair) break;
      key = isScalar(pair.key) ? pair.key : null;
      if (pair.value === null || typeof pair.value !== 'object') {
        node = key;
        break;
      }
      node = pair.value as Node;
    } else break;
  }
  return { node, key };
}

/** The 1-based line `path` starts on (its key's line for a key problem, else its value's). */
function lineAt(
  doc: Document,
  path: readonly PathKey[],
  lineOf: (offset: number) => number,
  preferKey = false,
): number {
  const { node, key } = walk(doc, path);
  const target = preferKey && key ? key : node;
  const offset = target?.range?.[0];
  return offset === undefined ? 1 : lineOf(offset);
}

function valueAt(raw: unknown, path: readonly PathKey[]): unknown {
  let value = raw;
  for (const step of path) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<PathKey, unknown>)[step];
  }
  return value;
}

/** The value's own text in the file (e.g. `12.50` as written, not the float it became). */
function sourceAt(doc: Document, text: string, path: readonly PathKey[]): string | undefined {
  const { node } = walk(doc, path);
  const range = isScalar(node) ? node.range : undefined;
  return range ? text.slice(range[0], range[1]) : undefined;
}

function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object' && value !== null) return 'a mapping';
  return String(value);
}

function describeIssue(
  issue: z.core.$ZodIssue,
  value: unknown,
  source: string | undefined,
): string {
  const shown = source ?? show(value);
  if (value === undefined && issue.code !== 'custom') return 'is required';
  switch (issue.code) {
    case 'invalid_type':
      if (issue.expected === 'string' && typeof value === 'number')
        return `${shown} must be quoted, e.g. "${shown}" (amounts are decimal strings, never floats)`;
      if (issue.expected === 'int' && typeof value === 'number')
        return `${shown} must be a whole number`;
      return `expected ${article(issue.expected)}, got ${shown}`;
    case 'too_small':
      if (issue.origin === 'array') return `needs at least ${String(issue.minimum)} entries`;
      if (issue.origin === 'string')
        return issue.minimum === 1
          ? 'must not be empty'
          : `is shorter than ${String(issue.minimum)} characters`;
      return `${shown} is below the minimum ${String(issue.minimum)}`;
    case 'too_big':
      if (issue.origin === 'array') return `has more than ${String(issue.maximum)} entries`;
      if (issue.origin === 'string') return `is longer than ${String(issue.maximum)} characters`;
      return `${shown} is above the maximum ${String(issue.maximum)}`;
    case 'invalid_value':
      return `${shown} is not one of: ${issue.values.map((v) => String(v)).join(', ')}`;
    case 'invalid_union':
      if ('options' in issue && Array.isArray(issue.options))
        return `${shown} is not one of: ${issue.options.map((v) => String(v)).join(', ')}`;
      return `${shown} is not valid here`;
    case 'invalid_format':
      if (issue.format === 'url') return `${shown} is not an http(s) URL`;
      return `${shown} ${issue.message}`;
    case 'custom':
      return `${shown} ${issue.message}`;
    case 'not_multiple_of':
    case 'unrecognized_keys':
    case 'invalid_key':
    case 'invalid_element':
      return `${shown}: ${issue.message}`;
  }
}

function article(expected: string): string {
  const names: Record<string, string> = {
    object: 'a mapping',
    array: 'a list',
    string: 'a string',
    number: 'a number',
    int: 'a whole number',
    boolean: 'true or false',
  };
  return names[expected] ?? expected;
}

/** Every map key in the document that names a secret, with its path and line. */
function findSecretKeys(
  doc: Document,
  lineOf: (offset: number) => number,
): { path: PathKey[]; line: number }[] {
  const out: { path: PathKey[]; line: number }[] = [];
  const visit = (node: Node | null, path: PathKey[]) => {
    if (isMap(node)) {
      for (const pair of node.items) {
        if (!isScalar(pair.key)) continue;
        const key = String(pair.key.value);
        if (SECRET_KEY.test(key))
          out.push({ path: [...path, key], line: lineOf(pair.key.range?.[0] ?? 0) });
        visit(pair.value as Node | null, [...path, key]);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => {
        visit(item as Node | null, [...path, i]);
      });
    }
  };
  visit(doc.contents, []);
  return out;
}
