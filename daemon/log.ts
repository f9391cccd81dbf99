/**
 * The root logger: pino JSON lines on stdout, one record per line.
 *
 * Under systemd each line starts with its syslog priority (`<3>` error, `<4>` warn, `<6>` info,
 * `<7>` debug and trace, `<2>` fatal), which journald strips and stores as the entry's priority,
 * so `journalctl -u seqr-vend -p warning` works. Lines are written synchronously to fd 1: a
 * `fatal` logged just before `process.exit()` is not lost.
 *
 * Secrets are removed twice: pino's path redaction for the known fields (`password`,
 * `*.password`, `context.password`, `credentials`, `authorization`, ...), and a last scrub of every
 * output line for the secret values registered in a {@link SecretSet} (a password echoed inside an
 * error message or a SOAP body is caught there).
 */
import { fstatSync } from 'node:fs';
import pino, { type DestinationStream, type Level, type Logger } from 'pino';
import { formatLogLine } from './service/logs.js';

export type { Logger } from 'pino';

/** Log levels, most severe first. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The journald priority prefix per pino level (sd-daemon(3)). */
export const JOURNALD_PREFIX: Readonly<Record<LogLevel, string>> = {
  fatal: '<2>',
  error: '<3>',
  warn: '<4>',
  info: '<6>',
  debug: '<7>',
  trace: '<7>',
};

/** Field paths pino censors in every record (one level of nesting and the SOAP context). */
export const REDACT_PATHS: readonly string[] = [
  'password',
  '*.password',
  '*.*.password',
  'context.password',
  '*.context.password',
  'terminalPassword',
  '*.terminalPassword',
  'resellerPassword',
  '*.resellerPassword',
  'credentials',
  '*.credentials',
  'secret',
  '*.secret',
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
  'headers.Authorization',
  '*.headers.Authorization',
];

export const CENSOR = '[REDACTED]';

/** `text` as XML character data escapes it (the soap package's `xmlEscape`). */
function escapeXml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;')
    .replace(/\t/g, '&#x9;')
    .replace(/\r/g, '&#xD;')
    .replace(/\n/g, '&#xA;');
}

/**
 * Secret values that must never reach the output, whatever field or message carries them.
 * Add the terminal password as soon as it is read; values shorter than 4 characters are refused
 * (scrubbing them would mangle ordinary text).
 */
export class SecretSet {
  readonly #values = new Set<string>();

  add(secret: string): void {
    if (secret.length < 4)
      throw new RangeError('a secret to scrub must have at least 4 characters');
    // The value as written, inside XML text (a SOAP request, and that request echoed inside a
    // fault's XML), each inside a JSON string and inside JSON text that was itself logged as a
    // string (a serialized SOAP or JSON body).
    const xml = escapeXml(secret);
    for (const base of [secret, xml, escapeXml(xml)]) {
      const once = JSON.stringify(base).slice(1, -1);
      const twice = JSON.stringify(once).slice(1, -1);
      for (const form of [base, once, twice]) this.#values.add(form);
    }
    // Longest first, so that no partial match remains.
    this.#ordered = [...this.#values].sort((a, b) => b.length - a.length);
  }

  /** `line` with every registered secret replaced by {@link CENSOR}. */
  scrub(line: string): string {
    let out = line;
    for (const value of this.#ordered) if (out.includes(value)) out = out.replaceAll(value, CENSOR);
    return out;
  }

  #ordered: readonly string[] = [];
}

/** Anything with a synchronous `write(string)`: fd 1 by default, a collector in tests. */
export interface LineSink {
  write(chunk: string): unknown;
}

export interface LoggerOptions {
  readonly level: LogLevel;
  /**
   * Prefix lines with journald priorities. Default: whether stdout is the journal stream systemd
   * gave us ({@link isJournalStream}).
   */
  readonly journald?: boolean;
  /** Human-readable lines instead of JSON (a terminal). Ignored with journald. Default false. */
  readonly pretty?: boolean;
  /** Where lines go. Default: fd 1, written synchronously. */
  readonly destination?: LineSink;
  /** Secret values scrubbed from every line. */
  readonly secrets?: SecretSet;
  /** The environment, for journald detection. Default `process.env`. */
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * Whether stdout is connected to the journal: `$JOURNAL_STREAM` names stdout's device and inode
 * (systemd.exec(5)). When only `$INVOCATION_ID` is set (started by systemd with another stdout),
 * prefixes are kept: journald or syslog readers understand them.
 */
export function isJournalStream(env: NodeJS.ProcessEnv, fd = 1): boolean {
  const stream = env['JOURNAL_STREAM'];
  if (stream !== undefined && stream !== '') {
    const [dev, ino] = stream.split(':');
    try {
      const st = fstatSync(fd);
      return String(st.dev) === dev && String(st.ino) === ino;
    } catch {
      return false;
    }
  }
  return env['INVOCATION_ID'] !== undefined && env['INVOCATION_ID'] !== '';
}

/**
 * Creates the root logger. Components take `log.child({ component: 'printer' })`.
 *
 * Every record becomes exactly one line on the destination (pino escapes newlines inside
 * messages and stacks), written synchronously before the logging call returns.
 */
export function createLogger(options: LoggerOptions): Logger {
  const env = options.env ?? process.env;
  const journald = options.journald ?? isJournalStream(env);
  const sink: LineSink = options.destination ?? pino.destination({ dest: 1, sync: true });
  const secrets = options.secrets;
  const writeLine = (line: string) => {
    const clean = secrets ? secrets.scrub(line) : line;
    sink.write(clean);
  };

  const pinoOptions = {
    level: options.level,
    base: journald ? null : { pid: process.pid },
    redact: { paths: [...REDACT_PATHS], censor: CENSOR },
    serializers: { err: pino.stdSerializers.errWithCause },
  };

  if (journald) {
    const prefixed = (level: LogLevel): { level: Level; stream: DestinationStream } => ({
      level,
      stream: {
        write(line: string) {
          writeLine(`${JOURNALD_PREFIX[level]}${line}`);
        },
      },
    });
    // dedupe: each record goes only to the stream of the highest level it reaches.
    return pino(
      pinoOptions,
      pino.multistream((['trace', 'info', 'warn', 'error', 'fatal'] as const).map(prefixed), {
        dedupe: true,
      }),
    );
  }
  const stream: DestinationStream = {
    write(line: string) {
      if (!options.pretty) {
        writeLine(line);
        return;
      }
      const trimmed = line.endsWith('\n') ? line.slice(0, -1) : line;
      writeLine(`${formatLogLine(secrets ? secrets.scrub(trimmed) : trimmed, { colour: true })}\n`);
    },
  };
  return pino(pinoOptions, stream);
}
