/**
 * Human-readable log lines, for `seqr-vend logs` (journalctl piped through this formatter) and
 * for the daemon's own stdout when it runs in a terminal. A minimal stand-in for pino-pretty,
 * which is not a dependency: local time, level, component, message, the other fields as
 * key=value, and an error's stack on the following lines.
 */
import { spawn as nodeSpawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

const LEVEL_NAMES: Readonly<Record<number, string>> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};
const LEVEL_COLOURS: Readonly<Record<number, string>> = {
  10: '\x1b[90m',
  20: '\x1b[36m',
  30: '\x1b[32m',
  40: '\x1b[33m',
  50: '\x1b[31m',
  60: '\x1b[35m',
};
const RESET = '\x1b[0m';
const HIDDEN = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'component', 'err']);

export interface FormatOptions {
  /** ANSI colours for the level. Default false. */
  readonly colour?: boolean;
  /** The date before the time (lines from past days, `seqr-vend logs`). Default false. */
  readonly date?: boolean;
}

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

/** `time` (epoch ms) in this machine's local time zone: `HH:MM:SS.mmm`, with `date` first. */
export function localTime(time: number, date = false): string {
  const t = new Date(time);
  const clock = `${pad(t.getHours())}:${pad(t.getMinutes())}:${pad(t.getSeconds())}.${pad(t.getMilliseconds(), 3)}`;
  return date
    ? `${String(t.getFullYear())}-${pad(t.getMonth() + 1)}-${pad(t.getDate())} ${clock}`
    : clock;
}

/**
 * Formats one pino JSON line. A line that is not a JSON object (a journal line from another
 * source, a leftover `<N>` prefix) is returned unchanged, minus the prefix.
 */
export function formatLogLine(line: string, options: FormatOptions = {}): string {
  const text = line.replace(/^<\d>/, '');
  let record: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return text;
    record = parsed as Record<string, unknown>;
  } catch {
    return text;
  }
  const level = typeof record['level'] === 'number' ? record['level'] : 30;
  const levelName = (LEVEL_NAMES[level] ?? String(level)).padEnd(5);
  const time =
    typeof record['time'] === 'number' ? localTime(record['time'], options.date ?? false) : '';
  const component = typeof record['component'] === 'string' ? `[${record['component']}] ` : '';
  const msg = typeof record['msg'] === 'string' ? record['msg'] : '';
  const fields = Object.entries(record)
    .filter(([key]) => !HIDDEN.has(key))
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`);
  const shownLevel = options.colour
    ? `${LEVEL_COLOURS[level] ?? ''}${levelName}${RESET}`
    : levelName;
  let out = [time, shownLevel, `${component}${msg}`, ...fields].filter((s) => s !== '').join(' ');
  const err = record['err'];
  if (typeof err === 'object' && err !== null) {
    const e = err as Record<string, unknown>;
    const code = typeof e['code'] === 'string' ? ` (${e['code']})` : '';
    const stack = typeof e['stack'] === 'string' ? e['stack'] : String(e['message']);
    out += `\n    ${stack.replace(/\n/g, '\n    ')}${code}`;
  }
  return out;
}

/** What {@link followLogs} needs from `child_process.spawn`. */
export type SpawnFn = (
  command: string,
  args: readonly string[],
  options: { stdio: ['ignore', 'pipe', 'inherit']; env: NodeJS.ProcessEnv },
) => ChildProcess;

/** journalctl's priority names, most severe first: index = syslog number (journalctl(1) `-p`). */
export const PRIORITIES = [
  'emerg',
  'alert',
  'crit',
  'err',
  'warning',
  'notice',
  'info',
  'debug',
] as const;
/** The daemon's own level names, as the priorities they are logged with. */
const LEVEL_PRIORITY: Readonly<Record<string, string>> = {
  fatal: 'crit',
  error: 'err',
  warn: 'warning',
  trace: 'debug',
};

/**
 * `-p` as journalctl takes it: a name (`warning`), a number (`4`) or a range (`err..warning`);
 * the daemon's level names (`error`, `warn`, `fatal`, `trace`) are taken too. Returns the form
 * passed to journalctl, or undefined for anything else.
 */
export function parsePriority(text: string): string | undefined {
  const one = (part: string): string | undefined => {
    const name = part.toLowerCase();
    if (/^[0-7]$/.test(name)) return name;
    if ((PRIORITIES as readonly string[]).includes(name)) return name;
    return LEVEL_PRIORITY[name];
  };
  const [from, to, extra] = text.split('..');
  if (from === undefined || extra !== undefined) return undefined;
  const a = one(from);
  if (a === undefined) return undefined;
  if (to === undefined) return a;
  const b = one(to);
  return b === undefined ? undefined : `${a}..${b}`;
}

export interface FollowLogsOptions {
  /** The unit whose journal is read. Default `seqr-vend`. */
  readonly unit?: string;
  /** Keep following new lines (`-f`). Default true. */
  readonly follow?: boolean;
  /** How many past lines to show first. Default 50. */
  readonly lines?: number;
  /** Only lines of this priority or more severe: a {@link parsePriority} result (`journalctl -p`). */
  readonly priority?: string;
  /** The environment journalctl runs with (its PATH finds it). Default `process.env`. */
  readonly env?: NodeJS.ProcessEnv;
  readonly colour?: boolean;
  /** Where the formatted lines go. Default stdout. */
  readonly out?: { write(text: string): unknown };
  /** Injected for tests. Default `child_process.spawn`. */
  readonly spawn?: SpawnFn;
}

/**
 * `seqr-vend logs`: runs `journalctl -u seqr-vend -o cat [-p <priority>] [-f] -n <lines>` and
 * prints each line formatted, times in local time with the date. Resolves with journalctl's exit
 * status (127 when journalctl cannot be started).
 */
export function followLogs(options: FollowLogsOptions = {}): Promise<number> {
  const spawn = options.spawn ?? nodeSpawn;
  const out = options.out ?? process.stdout;
  const args = ['-u', options.unit ?? 'seqr-vend', '-o', 'cat', '-n', String(options.lines ?? 50)];
  if (options.priority !== undefined) args.push('-p', options.priority);
  if (options.follow ?? true) args.push('-f');
  return new Promise((resolve) => {
    const child = spawn('journalctl', args, {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: options.env ?? process.env,
    });
    let settled = false;
    const finish = (code: number) => {
      if (settled) return;
      settled = true;
      resolve(code);
    };
    child.once('error', (err: NodeJS.ErrnoException) => {
      out.write(`seqr-vend logs: cannot run journalctl (${err.code ?? err.message})\n`);
      finish(127);
    });
    if (child.stdout) {
      const lines = createInterface({ input: child.stdout, crlfDelay: Infinity });
      lines.on('line', (line) => {
        out.write(`${formatLogLine(line, { colour: options.colour ?? false, date: true })}\n`);
      });
      // Resolve only once every line has been written.
      lines.once('close', () => {
        child.once('close', (code: number | null) => {
          finish(code ?? 1);
        });
        if (child.exitCode !== null) finish(child.exitCode);
      });
    } else {
      child.once('close', (code: number | null) => {
        finish(code ?? 1);
      });
    }
  });
}
