// The configuration loader fed random and adversarial YAML: mutated valid configurations, random
// bytes, alias bombs, deep nesting, huge scalars, many and duplicate keys, self-referencing
// anchors, tags, several documents. Whatever comes in, the loader ends with a valid, frozen
// configuration or E_CONFIG_INVALID (exit 78) whose every line names the file, within a time and
// memory bound per input: it runs in a worker thread whose V8 heap is capped, so an input that
// needs more memory kills the worker and fails the run. The bounds are generous for a loaded
// 2-core machine; the figures measured are printed at the end.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { DEMO_CONFIG_INPUT } from '../../config/demo.js';
import { MAX_CONFIG_BYTES, MAX_PROBLEMS } from '../../config/load.js';
import { isLoopbackHost, isPrintable, MAX_PRICE_MINOR } from '../../config/schema.js';
import { transpileForChild } from '../ledger/transpile.js';

/** Per input, on a loaded 2-core machine; the worst seen is printed at the end. */
const TIME_BOUND_MS = 10_000;
/** The worker's V8 heap (old and young generation): no input may need more. */
const HEAP_BOUND_MIB = { old: 128, young: 16 };

const EXAMPLE_TEXT = readFileSync(
  path.join(import.meta.dirname, '../../config/example.config.yaml'),
  'utf8',
);
const MINIMAL = {
  mode: 'demo',
  machine: { name: 'Test' },
  merchant: { name: 'Shop' },
  products: [{ slot: 1, name: 'Cola', price: '25.00', buttonPin: 5, relayPin: 17 }],
  buttons: { cancelPin: 26 },
};
const BASES: readonly unknown[] = [MINIMAL, DEMO_CONFIG_INPUT];

/** What the worker answers for one input. */
type Outcome =
  | {
      kind: 'valid';
      ms: number;
      heapMiB: number;
      frozen: boolean;
      names: string[];
      priceMinor: number[];
      vatBasisPoints: number;
      kioskHost: string;
      allowRemote: boolean;
    }
  | { kind: 'refused'; ms: number; heapMiB: number; code: string; exit: number; lines: string[] }
  | { kind: 'threw'; ms: number; heapMiB: number; error: string };

const WORKER = `
import { parentPort } from 'node:worker_threads';
import { getHeapStatistics } from 'node:v8';
const { ConfigError, exitCodeFor, parseConfigText } = await import(process.env.LOAD_MODULE ?? '');
parentPort.on('message', (text) => {
  const started = performance.now();
  let answer;
  try {
    const c = parseConfigText(text, 'config.yaml', {});
    answer = {
      kind: 'valid',
      frozen: Object.isFrozen(c) && Object.isFrozen(c.products) && c.products.every(Object.isFrozen),
      names: c.products.map((p) => p.name),
      priceMinor: c.products.map((p) => p.priceMinor),
      vatBasisPoints: c.merchant.vatBasisPoints,
      kioskHost: c.kiosk.host,
      allowRemote: c.kiosk.allowRemote,
    };
  } catch (err) {
    answer = err instanceof ConfigError
      ? { kind: 'refused', code: err.code, exit: exitCodeFor(err), lines: err.lines }
      : { kind: 'threw', error: String(err && err.stack || err) };
  }
  answer.ms = performance.now() - started;
  answer.heapMiB = getHeapStatistics().total_heap_size / 1048576;
  parentPort.postMessage(answer);
});
parentPort.postMessage('ready');
`;

let tmp: string;
let worker: Worker;
let died: Error | undefined;
/** The input the worker is loading; kept with its death so the report names the input that killed it. */
let inFlight: { family: string; text: string } | undefined;

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'seqr-fuzz-'));
  const load = transpileForChild('config/load.ts', tmp);
  worker = new Worker(new URL(`data:text/javascript,${encodeURIComponent(WORKER)}`), {
    env: { LOAD_MODULE: pathToFileURL(load).href },
    resourceLimits: {
      maxOldGenerationSizeMb: HEAP_BOUND_MIB.old,
      maxYoungGenerationSizeMb: HEAP_BOUND_MIB.young,
    },
  });
  worker.on('error', (err) => {
    if (inFlight) {
      const kept = path.join(import.meta.dirname, '../../test-results/config-fuzz-killer.yaml');
      mkdirSync(path.dirname(kept), { recursive: true });
      writeFileSync(kept, inFlight.text);
      err.message += ` (while loading ${inFlight.family} input of ${String(inFlight.text.length)} chars, kept in ${kept})`;
    }
    died = err;
  });
  await new Promise<void>((resolve, reject) => {
    worker.once('message', () => {
      resolve();
    });
    worker.once('error', reject);
  });
}, 60_000);

const stats = {
  runs: 0,
  valid: 0,
  refused: 0,
  maxMs: 0,
  slowest: '',
  maxHeapMiB: 0,
  times: [] as number[],
};

/** Loads `text` in the worker and checks the outcome. */
async function check(text: string, family: string): Promise<Outcome['kind']> {
  const outcome = await new Promise<Outcome>((resolve, reject) => {
    const onError = (err: Error) => {
      reject(
        new Error(
          `the loader worker died on ${family} input (${String(text.length)} chars): ${err.message}`,
        ),
      );
    };
    if (died) {
      onError(died);
      return;
    }
    worker.once('error', onError);
    worker.once('message', (answer: Outcome) => {
      worker.off('error', onError);
      inFlight = undefined;
      resolve(answer);
    });
    inFlight = { family, text };
    worker.postMessage(text);
  });
  if (outcome.kind === 'threw') throw new Error(`${family}: the loader threw ${outcome.error}`);
  if (outcome.kind === 'valid') {
    // What gets through is safe to show, print and send.
    expect(outcome.frozen).toBe(true);
    for (const name of outcome.names) expect(isPrintable(name)).toBe(true);
    for (const price of outcome.priceMinor) {
      expect(price).toBeGreaterThan(0);
      expect(price).toBeLessThanOrEqual(MAX_PRICE_MINOR);
    }
    expect(outcome.vatBasisPoints).toBeLessThanOrEqual(5_000);
    expect(isLoopbackHost(outcome.kioskHost) || outcome.allowRemote).toBe(true);
  } else {
    expect(outcome.code).toBe('E_CONFIG_INVALID');
    expect(outcome.exit).toBe(78);
    expect(outcome.lines.length).toBeGreaterThan(0);
    expect(outcome.lines.length).toBeLessThanOrEqual(MAX_PROBLEMS + 1);
    for (const line of outcome.lines) {
      expect(line).toMatch(/^config\.yaml:(\d+:)? /);
      expect(line).not.toMatch(/[\p{Cc}\p{Cf}\p{Cs}]/u);
      expect(line.length).toBeLessThan(600);
    }
  }
  stats.runs++;
  stats[outcome.kind]++;
  stats.times.push(outcome.ms);
  stats.maxHeapMiB = Math.max(stats.maxHeapMiB, outcome.heapMiB);
  if (outcome.ms > stats.maxMs) {
    stats.maxMs = outcome.ms;
    stats.slowest = `${family}, ${String(Buffer.byteLength(text))} bytes`;
  }
  expect(outcome.ms, `${family}: ${String(outcome.ms)} ms`).toBeLessThan(TIME_BOUND_MS);
  return outcome.kind;
}

// ---- arbitraries ----------------------------------------------------------------------------

const hostileScalar = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.constantFrom(
    -1,
    0,
    1e21,
    Number.MAX_SAFE_INTEGER + 2,
    Infinity,
    -Infinity,
    Number.NaN,
    '',
    ' ',
    '\u0000',
    'Cola\u001b[2J',
    '\u202Eloc',
    '0.00',
    '-1',
    '25.005',
    '1000',
    '999999999999999.99',
    '0x10',
    'yes',
    '~',
    '0.0.0.0',
    '::',
    'localhost',
    '/dev/zero',
    '../../etc/passwd',
  ),
  fc.boolean(),
  fc.constant(null),
  fc.string({ unit: 'binary', maxLength: 60 }),
  fc.string({ unit: 'grapheme', maxLength: 80 }),
  fc.nat(300_000).map((n) => 'x'.repeat(n)),
);
const hostileValue = fc.oneof(
  { weight: 4, arbitrary: hostileScalar },
  { weight: 1, arbitrary: fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 5 }) },
  {
    weight: 1,
    arbitrary: fc.dictionary(fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 2 }), {
      maxKeys: 5,
    }),
  },
);

type Json = Record<string | number, unknown>;

/** Every path into `value` (containers included), in a stable order. */
function pathsOf(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  const out: (string | number)[][] = [prefix];
  if (typeof value === 'object' && value !== null)
    for (const [k, v] of Object.entries(value))
      out.push(...pathsOf(v, [...prefix, Array.isArray(value) ? Number(k) : k]));
  return out;
}

function mutate(
  base: unknown,
  edits: readonly { at: number; value: unknown; add: string | undefined }[],
): unknown {
  const copy = structuredClone(base) as Json;
  let root: unknown = copy;
  for (const edit of edits) {
    const paths = pathsOf(root);
    const target = paths[Math.floor(edit.at * paths.length)] ?? [];
    if (target.length === 0) {
      root = edit.value;
      continue;
    }
    let parent = root as Json;
    for (const step of target.slice(0, -1)) parent = parent[step] as Json;
    const last = target.at(-1)!;
    if (edit.add !== undefined && typeof parent === 'object') parent[edit.add] = edit.value;
    else parent[last] = edit.value;
  }
  return root;
}

/** A valid configuration with 0..3 values replaced or keys added, as YAML or JSON. */
const mutatedConfig = fc
  .record({
    base: fc.constantFrom(...BASES),
    edits: fc.array(
      fc.record({
        at: fc.double({ min: 0, max: 0.999, noNaN: true }),
        value: hostileValue,
        add: fc.option(fc.string({ unit: 'grapheme', maxLength: 12 }), { nil: undefined }),
      }),
      { maxLength: 3 },
    ),
    json: fc.boolean(),
  })
  .map(({ base, edits, json }) => {
    const value = mutate(base, edits);
    return json ? JSON.stringify(value) : stringify(value);
  });

/** The annotated example with a few characters inserted or removed anywhere. */
const mutatedText = fc
  .array(
    fc.record({
      at: fc.double({ min: 0, max: 1, noNaN: true }),
      cut: fc.nat(12),
      insert: fc.oneof(
        fc.string({ unit: 'binary', maxLength: 16 }),
        fc.constantFrom(
          '&a ',
          '*a',
          '*example',
          '[',
          '{',
          ':',
          '- ',
          '? ',
          '\t',
          '\r\n',
          '\n---\n',
          '%YAML 1.1\n---\n',
          '!!binary ',
          '!custom ',
          '<<: ',
          '"',
          "'",
          '|\n',
          '#',
          '\u0000',
          '\uFEFF',
          '  ',
        ),
      ),
    }),
    { minLength: 1, maxLength: 6 },
  )
  .map((edits) =>
    edits.reduce((text, { at, cut, insert }) => {
      const i = Math.floor(at * text.length);
      return text.slice(0, i) + insert + text.slice(i + cut);
    }, EXAMPLE_TEXT),
  );

const randomBytes = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 2_000 }),
  fc.uint8Array({ maxLength: 8_000 }).map((b) => Buffer.from(b).toString('latin1')),
  fc.uint8Array({ maxLength: 8_000 }).map((b) => Buffer.from(b).toString('utf8')),
  fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 64 }), fc.nat(300_000)).map(([b, size]) =>
    Buffer.from(b)
      .toString('latin1')
      .repeat(Math.ceil(size / b.length)),
  ),
);

const aliasBomb = fc
  .record({ width: fc.integer({ min: 2, max: 12 }), levels: fc.integer({ min: 2, max: 12 }) })
  .map(({ width, levels }) => {
    const lines = [`l0: &l0 [${Array(width).fill('"lol"').join(',')}]`];
    for (let i = 1; i < levels; i++)
      lines.push(
        `l${String(i)}: &l${String(i)} [${Array(width)
          .fill(`*l${String(i - 1)}`)
          .join(',')}]`,
      );
    return lines.join('\n');
  });

const deepNesting = fc
  .record({
    depth: fc.oneof(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 40, max: 150_000 })),
    style: fc.constantFrom(
      'flow-seq',
      'flow-map',
      'compact-seq',
      'explicit-key',
      'block-map',
      'mixed',
    ),
  })
  .map(({ depth, style }) => {
    switch (style) {
      case 'flow-seq':
        return `mode: ${'['.repeat(depth)}${']'.repeat(depth)}`;
      case 'flow-map':
        return `mode: ${'{a: '.repeat(depth)}1${'}'.repeat(depth)}`;
      case 'compact-seq':
        return `products:\n  ${'- '.repeat(depth)}x`;
      case 'explicit-key':
        return `${'? '.repeat(depth)}x`;
      case 'block-map':
        return Array.from({ length: Math.min(depth, 700) }, (_, i) => `${' '.repeat(i)}k:`).join(
          '\n',
        );
      case 'mixed':
        return `a: ${'[{b: '.repeat(depth)}1${'}]'.repeat(depth)}`;
    }
  });

const hugeScalar = fc
  .record({
    size: fc.oneof(fc.nat(1_000), fc.integer({ min: MAX_CONFIG_BYTES - 2_000, max: 400_000 })),
    key: fc.constantFrom('mode', 'machine:\n  name', 'unknownKey', '"k"'),
    quote: fc.constantFrom('', '"', "'", '|\n  '),
    char: fc.constantFrom('x', 'é', '\\0', ' ', '9', '🙂'),
  })
  .map(({ size, key, quote, char }) => {
    const close = quote.startsWith('|') ? '' : quote;
    return `${key}: ${quote}${char.repeat(Math.ceil(size / char.length))}${close}\n`;
  });

const manyKeys = fc
  .record({
    n: fc.oneof(fc.nat(200), fc.integer({ min: 5_000, max: 70_000 })),
    flow: fc.boolean(),
    duplicates: fc.boolean(),
    nested: fc.boolean(),
  })
  .map(({ n, flow, duplicates, nested }) => {
    const key = (i: number) => `k${String(duplicates ? i % 7 : i)}`;
    const indent = nested ? '  ' : '';
    const body = flow
      ? `{${Array.from({ length: n }, (_, i) => `${key(i)}: ${String(i)}`).join(', ')}}`
      : Array.from({ length: n }, (_, i) => `${indent}${key(i)}: ${String(i)}`).join('\n');
    return nested ? `merchant:\n${flow ? `  x: ${body}` : body}` : body;
  });

const oddYaml = fc.constantFrom(
  'a: &a [*a]',
  'products: &p\n  - *p',
  'machine: &m {name: *m}',
  'mode: *nothing',
  '%YAML 1.1\n---\nbase: &b {slot: 1}\nproducts:\n  - <<: *b\n    <<: *b\n    name: x',
  'mode: !!binary aGVsbG8=',
  'mode: !custom demo',
  'mode: !<tag:yaml.org,2002:str> demo',
  'mode: demo\n---\nmode: production',
  '\uFEFFmode: demo',
  'mode: demo\r\nmachine:\r\n  name: x\r\n',
  '? [a, b]\n: 1',
  '{[1,2]: 3}',
  'mode: 2001-12-14t21:59:43.10-05:00',
  '[]',
  '',
  '---',
  'null',
  '"just a string"',
);

const anyInput = fc.oneof(
  { weight: 8, arbitrary: mutatedConfig.map((t) => ['mutated config', t] as const) },
  { weight: 6, arbitrary: mutatedText.map((t) => ['mutated text', t] as const) },
  { weight: 3, arbitrary: randomBytes.map((t) => ['random bytes', t] as const) },
  { weight: 1, arbitrary: aliasBomb.map((t) => ['alias bomb', t] as const) },
  { weight: 2, arbitrary: deepNesting.map((t) => ['deep nesting', t] as const) },
  { weight: 1, arbitrary: hugeScalar.map((t) => ['huge scalar', t] as const) },
  { weight: 2, arbitrary: manyKeys.map((t) => ['many keys', t] as const) },
  { weight: 2, arbitrary: oddYaml.map((t) => ['odd yaml', t] as const) },
);

describe('config loader fuzz', () => {
  afterAll(async () => {
    await worker.terminate();
    rmSync(tmp, { recursive: true, force: true });
    const sorted = [...stats.times].sort((a, b) => a - b);
    const pct = (q: number) =>
      sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
    console.log(
      `config fuzz: ${String(stats.runs)} runs, ${String(stats.valid)} valid, ${String(stats.refused)} refused; ` +
        `per input p50 ${pct(0.5).toFixed(1)} ms, p99 ${pct(0.99).toFixed(1)} ms, max ${stats.maxMs.toFixed(0)} ms (${stats.slowest}); ` +
        `worker heap at most ${stats.maxHeapMiB.toFixed(1)} MiB (limit ${String(HEAP_BOUND_MIB.old + HEAP_BOUND_MIB.young)} MiB)`,
    );
  });

  it('every valid configuration loads, from YAML and from JSON', async () => {
    for (const base of BASES) {
      expect(await check(stringify(base), 'base')).toBe('valid');
      expect(await check(JSON.stringify(base), 'base')).toBe('valid');
    }
    expect(await check(EXAMPLE_TEXT, 'example')).toBe('valid');
  });

  it('random and adversarial input ends valid or E_CONFIG_INVALID, within bounds', async () => {
    await fc.assert(
      fc.asyncProperty(anyInput, async ([family, text]) => {
        await check(text, family);
      }),
      { numRuns: 600 },
    );
    // Both outcomes were exercised.
    expect(stats.valid).toBeGreaterThan(10);
    expect(stats.refused).toBeGreaterThan(300);
  }, 300_000);
});
