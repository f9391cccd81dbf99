/**
 * The gateway's own configuration, `/etc/seqr-vend/gateway.yaml` (daemon/gateway/README.md): where
 * it listens, its TLS certificate, the broker, deadlines and bounds. Secrets (the broker password,
 * the path token) are systemd credentials, never in the file. Every problem is reported at once as
 * `file:line: path: message`, like the machine's config.yaml.
 */
import { readFileSync } from 'node:fs';
import { LineCounter, isMap, isScalar, parseDocument, type Node } from 'yaml';
import { z } from 'zod';
import { ConfigError, deepFreeze } from '../../config/load.js';
import { MACHINE_ID } from './protocol.js';

/** Where `seqr-vend gateway` reads its configuration unless `--config` says otherwise. */
export const DEFAULT_GATEWAY_CONFIG_PATH = '/etc/seqr-vend/gateway.yaml';
/**
 * The root-only directory of the gateway's secrets. The unit loads it whole
 * (`LoadCredential=gateway:<dir>`), so each file `<name>` arrives as credential `gateway_<name>`.
 */
export const GATEWAY_CREDENTIALS_DIRECTORY = '/etc/seqr-vend/gateway-credentials';
/** The broker password, needed when `broker.username` is set. */
export const GATEWAY_BROKER_PASSWORD_CREDENTIAL = 'broker-password';
/** The secret path level before `createPurchase`, needed when `pathToken: true`. */
export const GATEWAY_PATH_TOKEN_CREDENTIAL = 'path-token';

const MAX_CONFIG_BYTES = 64 * 1024;
const absolutePath = z.string().regex(/^\//, 'must be an absolute path');
const topicPrefix = z
  .string()
  .max(100)
  .regex(
    /^[A-Za-z0-9_-]+(\/[A-Za-z0-9_-]+)*$/,
    'must be topic levels of letters, digits, "-" or "_"',
  );

export const GatewayConfigSchema = z.strictObject({
  listen: z
    .strictObject({
      host: z.string().min(1).max(100).default('0.0.0.0'),
      port: z.int().min(1).max(65_535).default(8443),
    })
    .prefault({}),
  tls: z
    .strictObject({ certFile: absolutePath, keyFile: absolutePath })
    .optional()
    .describe('HTTPS certificate chain and key (PEM); omit only behind a TLS-terminating proxy'),
  basePath: z
    .string()
    .regex(/^(\/[A-Za-z0-9_-]+)+$/, 'must be a path like /seqr')
    .default('/seqr'),
  pathToken: z
    .boolean()
    .default(false)
    .describe('createPurchase at <basePath>/<secret>/createPurchase, the secret a credential'),
  broker: z.strictObject({
    url: z.url({ protocol: /^mqtts?$/ }),
    sender: z
      .string()
      .regex(MACHINE_ID, 'must be 1-64 letters, digits, "-" or "_"')
      .default('gateway')
      .describe('The <sender> topic level: the broker user the ACL lets command machines'),
    username: z.string().min(1).max(100).optional(),
    prefix: topicPrefix.default('seqr-vend'),
    caFile: absolutePath.optional(),
    certFile: absolutePath.optional(),
    keyFile: absolutePath.optional(),
  }),
  deadlines: z
    .strictObject({
      purchaseMs: z.int().min(500).max(25_000).default(8_000),
      notifyMs: z.int().min(200).max(10_000).default(3_000),
    })
    .prefault({}),
  maxInFlight: z.int().min(1).max(10_000).default(256),
  log: z
    .strictObject({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug']).default('info') })
    .prefault({}),
});

export type GatewayConfig = z.output<typeof GatewayConfigSchema>;

const SECRET_KEY = /pass(word|wd)?$|secret|api[-_]?key/i;

/** Validates gateway configuration `text` (the contents of `label`); throws ConfigError. */
export function parseGatewayConfig(text: string, label: string): GatewayConfig {
  if (Buffer.byteLength(text) > MAX_CONFIG_BYTES)
    throw new ConfigError([`${label}: larger than ${MAX_CONFIG_BYTES} bytes`]);
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length > 0)
    throw new ConfigError(
      doc.errors.map(
        (e) => `${label}:${lines.linePos(e.pos[0]).line}: YAML: ${e.message.split('\n')[0] ?? ''}`,
      ),
    );
  const lineOf = (path: readonly PropertyKey[]): number => {
    let node: Node | null = doc.contents;
    let line = 1;
    for (const step of path) {
      if (!isMap(node)) break;
      const pair = node.items.find((p) => isScalar(p.key) && p.key.value === step);
      if (!pair) break;
      const offset = (isScalar(pair.key) ? pair.key.range?.[0] : undefined) ?? 0;
      line = lines.linePos(offset).line;
      node = pair.value as Node | null;
    }
    return line;
  };
  const problems: string[] = [];
  const raw: unknown = doc.toJS({ maxAliasCount: 10 }) ?? {};
  const visit = (value: unknown, path: string[]): void => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return;
    for (const [key, child] of Object.entries(value)) {
      if (SECRET_KEY.test(key))
        problems.push(
          `${label}:${lineOf([...path, key])}: ${[...path, key].join('.')}: secrets do not belong ` +
            `here; put the broker password in ${GATEWAY_CREDENTIALS_DIRECTORY}/${GATEWAY_BROKER_PASSWORD_CREDENTIAL}`,
        );
      visit(child, [...path, key]);
    }
  };
  visit(raw, []);
  const result = GatewayConfigSchema.safeParse(raw);
  if (!result.success)
    for (const issue of result.error.issues) {
      const path =
        issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0] ?? ''] : issue.path;
      const message = issue.code === 'unrecognized_keys' ? 'unknown key' : issue.message;
      problems.push(
        `${label}:${lineOf(path)}: ${path.map(String).join('.') || '(top)'}: ${message}`,
      );
    }
  if (result.success) {
    const b = result.data.broker;
    if ((b.certFile === undefined) !== (b.keyFile === undefined))
      problems.push(
        `${label}:${lineOf(['broker'])}: broker: give both certFile and keyFile, or neither`,
      );
  }
  if (problems.length > 0 || !result.success) throw new ConfigError(problems);
  return deepFreeze(result.data);
}

/** Reads and validates `path`; a missing file is E_CONFIG_INVALID too. */
export function loadGatewayConfig(path: string): GatewayConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError([
      `${path}: cannot read the gateway configuration (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
    ]);
  }
  return parseGatewayConfig(text, path);
}
