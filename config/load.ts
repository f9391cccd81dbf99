/**
 * Reads config.yaml through the schema: every problem (YAML syntax, schema, cross-field checks,
 * misplaced secrets) is reported at once as `file:line: path: message`, then the result is
 * deep-frozen and passed down explicitly. An invalid configuration makes the daemon exit
 * {@link EXIT_CONFIG}, which the unit's `RestartPreventExitStatus=` turns into "stay failed".
 *
 * Reading is bounded, whatever the file holds: at most {@link MAX_CONFIG_BYTES}, nesting at most
 * {@link MAX_CONFIG_DEPTH} levels, at most {@link MAX_CONFIG_VALUES} values, aliases expanded at
 * most 100 times, duplicate keys found in one pass; each limit is checked while the text is being
 * parsed, before anything grows with it. Messages quote the file only as short printable
 * excerpts (control characters escaped), and list at most {@link MAX_PROBLEMS} problems.
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { access } from 'node:fs/promises';
import {
  Composer,
  CST,
  isMap,
  isScalar,
  isSeq,
  Lexer,
  LineCounter,
  Parser,
  type Document,
  type Node,
  type Pair,
  type YAMLMap,
} from 'yaml';
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

/** The largest configuration read: a real one is a few KiB; 256 KiB is a mistake or an attack. */
export const MAX_CONFIG_BYTES = 256 * 1024;
/** The deepest nesting of mappings and lists; the schema itself nests 4 deep. */
export const MAX_CONFIG_DEPTH = 16;
/** The most values (keys, scalars, lists, mappings); 32 fully written products need about 1,500. */
export const MAX_CONFIG_VALUES = 10_000;
/** Problems listed in one report; the rest are counted. */
export const MAX_PROBLEMS = 50;
/** Alias expansions `toJS` allows (yaml's guard against "billion laughs"). */
const MAX_ALIAS_COUNT = 100;

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
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_CONFIG_BYTES) throw new ConfigError([tooLarge(label, bytes)]);
  const lineCounter = new LineCounter();
  const lineOf = (offset: number) => lineCounter.linePos(offset).line;
  const composed = composeBounded(text, lineCounter);
  if ('refused' in composed) {
    const { offset, message } = composed.refused;
    throw new ConfigError(render(label, [{ line: lineOf(offset), path: [], message }]));
  }
  const { doc } = composed;
  const found: Located[] = [];

  for (const err of doc.errors)
    found.push({
      line: lineOf(err.pos[0]),
      path: [],
      message: `YAML: ${excerpt(firstLine(err.message), 120)}`,
    });
  if (found.length > 0) throw new ConfigError(render(label, found));

  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) ?? {};
  } catch (err) {
    // An alias bomb or an alias to nothing.
    const message = err instanceof Error ? err.message : String(err);
    throw new ConfigError(
      render(label, [{ line: 1, path: [], message: `YAML: ${excerpt(message, 120)}` }]),
    );
  }
  const keys = inspectKeys(doc, lineOf);
  found.push(...keys.duplicates);
  const secretPaths = keys.secrets;
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
    const issues = result.error.issues;
    for (const issue of issues) {
      // Every whole number is also checked against the safe-integer range; a number beyond it
      // is beyond the field's own bound as well, which says more.
      if (isSafeIntegerBound(issue) && issues.some((i) => i !== issue && samePath(i, issue)))
        continue;
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
  return parseConfigText(readConfigFile(path), path, env);
}

/**
 * The text of `path`, read without ever holding more than {@link MAX_CONFIG_BYTES} + 1 bytes
 * (a file that grows, a FIFO or `/dev/zero` are refused like a large file). Refuses what is not
 * UTF-8 text.
 */
function readConfigFile(path: string): string {
  const cannot = (err: unknown, what = 'read'): ConfigError => {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    return new ConfigError([`${path}: cannot ${what} the configuration file (${code})`]);
  };
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw cannot(err);
  }
  try {
    const st = fstatSync(fd);
    if (st.isDirectory())
      throw new ConfigError([`${path}: is a directory, not a configuration file`]);
    if (st.isFile() && st.size > MAX_CONFIG_BYTES) throw new ConfigError([tooLarge(path, st.size)]);
    const buffer = Buffer.alloc(MAX_CONFIG_BYTES + 1);
    let length = 0;
    while (length < buffer.length) {
      let n: number;
      try {
        n = readSync(fd, buffer, length, buffer.length - length, null);
      } catch (err) {
        throw cannot(err);
      }
      if (n === 0) break;
      length += n;
    }
    if (length > MAX_CONFIG_BYTES) throw new ConfigError([tooLarge(path, undefined)]);
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(buffer.subarray(0, length));
    } catch {
      const line = firstInvalidUtf8Line(buffer.subarray(0, length));
      throw new ConfigError([`${path}:${String(line)}: is not UTF-8 text; save it as UTF-8`]);
    }
  } finally {
    closeSync(fd);
  }
}

function tooLarge(label: string, bytes: number | undefined): string {
  const size =
    bytes === undefined ? 'more than 256 KiB' : `${formatBytes(bytes)} (${String(bytes)} bytes)`;
  return (
    `${label}: the configuration is ${size}; at most ${formatBytes(MAX_CONFIG_BYTES)} are read ` +
    '(a configuration for 32 products is under 20 KiB)'
  );
}

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${String(bytes)} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(bytes % 1024 === 0 ? 0 : 1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** The line of the first byte sequence that is not UTF-8 (decoded as U+FFFD). */
function firstInvalidUtf8Line(bytes: Buffer): number {
  const text = bytes.toString('utf8');
  const at = text.indexOf('\uFFFD');
  return at < 0 ? 1 : text.slice(0, at).split('\n').length;
}

/** The result of `seqr-vend check-config`: `ok` decides the exit status (0 or {@link EXIT_CONFIG}). */
export interface CheckResult {
  readonly ok: boolean;
  /** What to print: each problem on its own line, or one summary line when all is well. */
  readonly lines: readonly string[];
}

/**
 * Everything `seqr-vend check-config` checks: the file, and whenever SEQR is not the built-in
 * simulator (production, or demo with `seqr.endpoint`) that the terminal password (and, with
 * end-of-day reports, the reseller password) credential and the CA file can be used.
 * Credentials are never printed.
 */
export async function checkConfig(path: string, env: NodeJS.ProcessEnv): Promise<CheckResult> {
  let config: Config;
  try {
    config = loadConfig(path, env);
  } catch (err) {
    if (err instanceof ConfigError) return { ok: false, lines: err.lines };
    throw err;
  }
  if (config.mode === 'production' || config.seqr.endpoint !== undefined) {
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
  const lines = [...found]
    .sort((a, b) => a.line - b.line)
    .slice(0, MAX_PROBLEMS)
    .map((f) => {
      const where = `${label}:${String(f.line)}: `;
      const path = formatPath(f.path.map((p) => (typeof p === 'string' ? excerpt(p, 40) : p)));
      return f.path.length === 0 ? `${where}${f.message}` : `${where}${path}: ${f.message}`;
    });
  if (found.length > MAX_PROBLEMS)
    lines.push(`${label}: ${String(found.length - MAX_PROBLEMS)} more problems not listed`);
  return lines;
}

/**
 * `text` as it may be shown to an operator: characters that are not printable (controls, format
 * characters, separators, lone surrogates) and backslashes escaped, cut after `max` characters.
 */
export function excerpt(text: string, max = 60): string {
  let out = '';
  let count = 0;
  for (const ch of text) {
    if (count === max) return `${out}... (${String(countChars(text) - max)} more characters)`;
    out += escapeChar(ch);
    count++;
  }
  return out;
}

const UNPRINTABLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Zl}\p{Zp}\\]/u;

function escapeChar(ch: string): string {
  if (!UNPRINTABLE.test(ch)) return ch;
  if (ch === '\\') return '\\\\';
  const code = ch.codePointAt(0) ?? 0;
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`;
}

/** Code points in `text` (a surrogate pair counts once). */
function countChars(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0xdc00 || unit > 0xdfff) n++;
  }
  return n;
}

function firstLine(text: string): string {
  return text.split('\n')[0] ?? text;
}

const pairIndex = new WeakMap<YAMLMap, Map<unknown, Pair>>();

/** The pair of `map` whose scalar key is `key` (first one), through a per-map index. */
function pairOf(map: YAMLMap, key: string): Pair | undefined {
  let index = pairIndex.get(map);
  if (!index) {
    index = new Map();
    for (const pair of map.items)
      if (isScalar(pair.key) && !index.has(pair.key.value)) index.set(pair.key.value, pair);
    pairIndex.set(map, index);
  }
  return index.get(key);
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
      const pair = pairOf(node, step);
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
  const shown = excerpt(source ?? show(value));
  if (value === undefined && issue.code !== 'custom') return 'is required';
  switch (issue.code) {
    case 'invalid_type':
      if (typeof value === 'number' && !Number.isFinite(value))
        return `${shown} is not a finite number`;
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

function isSafeIntegerBound(issue: z.core.$ZodIssue): boolean {
  return (
    (issue.code === 'too_big' && issue.maximum === Number.MAX_SAFE_INTEGER) ||
    (issue.code === 'too_small' && issue.minimum === Number.MIN_SAFE_INTEGER)
  );
}

function samePath(a: z.core.$ZodIssue, b: z.core.$ZodIssue): boolean {
  return a.path.length === b.path.length && a.path.every((step, i) => step === b.path[i]);
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

/**
 * Every map key in the document that names a secret, and every key written twice in one mapping
 * (found with one set per mapping: yaml's own check compares every pair with every other).
 */
function inspectKeys(
  doc: Document,
  lineOf: (offset: number) => number,
): { secrets: { path: PathKey[]; line: number }[]; duplicates: Located[] } {
  const secrets: { path: PathKey[]; line: number }[] = [];
  const duplicates: Located[] = [];
  const visit = (node: unknown, path: PathKey[]) => {
    if (isMap(node)) {
      const seen = new Map<unknown, number>();
      for (const pair of node.items) {
        if (!isScalar(pair.key)) continue;
        const value = pair.key.value;
        const key = String(value);
        const line = lineOf(pair.key.range?.[0] ?? 0);
        const first = seen.get(value);
        // Merge keys (`<<`, YAML 1.1) may repeat.
        if (first !== undefined && key !== '<<')
          duplicates.push({
            line,
            path: [...path, key],
            message: `duplicate key (first written on line ${String(first)})`,
          });
        else seen.set(value, line);
        if (SECRET_KEY.test(key)) secrets.push({ path: [...path, key], line });
        visit(pair.value, [...path, key]);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => {
        visit(item, [...path, i]);
      });
    }
  };
  visit(doc.contents, []);
  return { secrets, duplicates };
}

/**
 * Characters YAML does not allow in a file (YAML 1.2 section 5.1: C0 controls but tab, CR and LF;
 * DEL; C1 controls but NEL; U+FFFE, U+FFFF; lone surrogates). Binary data fails here, once.
 */
const NOT_YAML = /(?![\t\n\r\u0085])\p{Cc}|[\uFFFE\uFFFF]|\p{Cs}/u;

/** Lexer tokens that start a value: each key, scalar, alias, list or mapping counts once. */
const VALUE_TOKENS: ReadonlySet<string> = new Set([
  'scalar',
  'single-quoted-scalar',
  'double-quoted-scalar',
  'block-scalar-header',
  'alias',
  'flow-map-start',
  'flow-seq-start',
  'seq-item-ind',
  'explicit-key-ind',
]);

interface Refusal {
  readonly offset: number;
  readonly message: string;
}

/**
 * Parses `text` as yaml's `parseDocument` does (lexer, parser, composer), but checks the limits
 * between lexer tokens, before the parser's stack or the token list can grow with the input:
 * nesting (the parser's stack holds the document, each open collection and the node being read)
 * and the number of values. yaml's composer recurses per nesting level, and a few thousand levels
 * exhaust the stack or, worse, the process's memory; its own duplicate-key check is quadratic,
 * so it is off here and {@link inspectKeys} does it.
 */
function composeBounded(
  text: string,
  lineCounter: LineCounter,
): { doc: Document.Parsed } | { refused: Refusal } {
  const bad = NOT_YAML.exec(text);
  if (bad) {
    lineCounter.addNewLine(0);
    for (let i = text.indexOf('\n'); i >= 0 && i < bad.index; i = text.indexOf('\n', i + 1))
      lineCounter.addNewLine(i + 1);
    return {
      refused: {
        offset: bad.index,
        message:
          `YAML: the file holds the control character ${excerpt(bad[0])}, which YAML does not ` +
          'allow (is it a text file?)',
      },
    };
  }
  lineCounter.addNewLine(0);
  const parser = new Parser(lineCounter.addNewLine);
  const tokens: CST.Token[] = [];
  let values = 0;
  for (const lexeme of new Lexer().lex(text)) {
    const type = CST.tokenType(lexeme);
    if (type !== null && VALUE_TOKENS.has(type) && ++values > MAX_CONFIG_VALUES)
      return {
        refused: {
          offset: parser.offset,
          message: `YAML: more than ${String(MAX_CONFIG_VALUES)} values (keys, entries, scalars); a configuration has a few hundred`,
        },
      };
    for (const token of parser.next(lexeme)) tokens.push(token);
    if (parser.stack.length > MAX_CONFIG_DEPTH + 2)
      return {
        refused: {
          offset: parser.offset,
          message: `YAML: nested more than ${String(MAX_CONFIG_DEPTH)} levels deep; a configuration nests 4`,
        },
      };
  }
  for (const token of parser.end()) tokens.push(token);
  const docs = [
    ...new Composer({
      prettyErrors: false,
      uniqueKeys: false,
      stringKeys: true,
      logLevel: 'error',
    }).compose(tokens, true, text.length),
  ];
  const doc = docs[0];
  if (doc === undefined) throw new Error('yaml composed no document');
  const second = docs[1];
  if (second !== undefined)
    return {
      refused: {
        offset: second.range[0],
        message: 'YAML: the file holds more than one document (a second `---`); keep one',
      },
    };
  return { doc };
}
