// The footprint benchmark's processes, each seen from outside as an operator's machine sees it:
// the daemon spawned with the unit file's command line and environment and a NOTIFY_SOCKET this
// benchmark owns, the SEQR simulator in its own process, the suds comparison client, and /proc.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
/** The checkout (this file runs as dist/bench/footprint/rig.js). */
export const REPO = path.resolve(here, '../../..');
/** The Python helpers beside this file's source. */
export const SCRIPTS = path.join(REPO, 'bench', 'footprint');
export const UNIT_FILE = path.join(REPO, 'systemd', 'seqr-vend.service');
/** Where the unit file expects the installed copy. */
const INSTALL_ROOT = '/opt/seqr-vend/';
/** Debian's python3 (python3-suds is installed for it, not for other interpreters on PATH). */
export const PYTHON = '/usr/bin/python3';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** CLOCK_MONOTONIC in ns: the clock of the helpers' timestamps (process.hrtime is the same). */
export const monoNs = (): bigint => process.hrtime.bigint();
export const msBetween = (from: bigint, to: bigint): number => Number(to - from) / 1e6;

// ---- /proc ----

const CLK_TCK = 100;

/** utime + stime of the whole process (all threads), in ms (10 ms resolution). */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
}

function statusField(file: string, key: string): number {
  const m = new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(readFileSync(file, 'utf8'));
  return m ? Number(m[1]) : Number.NaN;
}

/** VmRSS in MiB. */
export function rssMiB(pid: number): number {
  return statusField(`/proc/${pid}/status`, 'VmRSS') / 1024;
}

/** RSS split by kind from smaps_rollup, MiB: anonymous (heaps, malloc) and file-backed (code). */
export function rssParts(pid: number): { anon: number; file: number } {
  const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(text)?.[1]);
  const anon = kb('Anonymous');
  return { anon: anon / 1024, file: (kb('Rss') - anon) / 1024 };
}

/** Voluntary context switches (sleeps that ended in a wakeup): the main thread, and all threads. */
export function wakeups(pid: number): { main: number; all: number } {
  const main = statusField(`/proc/${pid}/status`, 'voluntary_ctxt_switches');
  let all = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      all += statusField(`/proc/${pid}/task/${task}/status`, 'voluntary_ctxt_switches');
    } catch {
      // A thread that ended meanwhile.
    }
  }
  return { main, all };
}

/** Writes dirty pages back, then drops the page cache (needs root); false when not allowed. */
export function dropCaches(): boolean {
  try {
    execFileSync('sync');
    writeFileSync('/proc/sys/vm/drop_caches', '3');
    return true;
  } catch {
    return false;
  }
}

/** The machine's load while the benchmark runs: load average and busy share of all CPUs. */
export class LoadMonitor {
  readonly #loads: number[] = [];
  readonly #timer: NodeJS.Timeout;
  readonly #start = LoadMonitor.#cpu();

  constructor(everyMs = 5_000) {
    this.#sample();
    this.#timer = setInterval(() => {
      this.#sample();
    }, everyMs);
    this.#timer.unref();
  }

  static #cpu(): { busy: number; total: number } {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const total = v.reduce((a, b) => a + b, 0);
    const idle = (v[3] ?? 0) + (v[4] ?? 0);
    return { busy: total - idle, total };
  }

  #sample(): void {
    this.#loads.push(Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]));
  }

  /** Mean and max of the 1-minute load average, and the CPUs' busy share (%) since the start. */
  stop(): { meanLoad: number; maxLoad: number; busyPercent: number } {
    clearInterval(this.#timer);
    this.#sample();
    const end = LoadMonitor.#cpu();
    return {
      meanLoad: this.#loads.reduce((a, b) => a + b, 0) / this.#loads.length,
      maxLoad: Math.max(...this.#loads),
      busyPercent: ((end.busy - this.#start.busy) / (end.total - this.#start.total)) * 100,
    };
  }
}

// ---- line-oriented child processes ----

function readLines(stream: NodeJS.ReadableStream | null, onLine: (line: string) => void): void {
  if (!stream) return;
  let pending = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    pending += chunk;
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      onLine(pending.slice(0, nl));
      pending = pending.slice(nl + 1);
    }
  });
}

/** A child process whose stdout lines can be awaited; keeps the last lines for error messages. */
class LineProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  readonly tail: string[] = [];
  readonly #listeners = new Set<(line: string | undefined) => void>();
  #gone = false;

  constructor(
    readonly name: string,
    command: string,
    args: readonly string[],
    env: NodeJS.ProcessEnv,
  ) {
    this.child = spawn(command, [...args], { stdio: ['pipe', 'pipe', 'pipe'], env });
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code) => {
        this.#gone = true;
        for (const l of [...this.#listeners]) l(undefined);
        resolve(code);
      });
    });
    const keep = (line: string): void => {
      this.tail.push(line);
      if (this.tail.length > 40) this.tail.shift();
    };
    readLines(this.child.stdout, (line) => {
      keep(line);
      for (const l of [...this.#listeners]) l(line);
    });
    readLines(this.child.stderr, (line) => {
      keep(`stderr: ${line}`);
    });
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  onLine(listener: (line: string | undefined) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The first stdout line from now on that `match` accepts (its result); rejects on exit or timeout. */
  waitLine<T>(match: (line: string) => T | undefined, timeoutMs: number, what: string): Promise<T> {
    if (this.#gone) return Promise.reject(this.#error(`exited before ${what}`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(this.#error(`no ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      const off = this.onLine((line) => {
        if (line === undefined) {
          clearTimeout(timer);
          off();
          reject(this.#error(`exited before ${what}`));
          return;
        }
        const hit = match(line);
        if (hit === undefined) return;
        clearTimeout(timer);
        off();
        resolve(hit);
      });
    });
  }

  #error(what: string): Error {
    return new Error(`${this.name} ${what}; last output:\n  ${this.tail.join('\n  ')}`);
  }

  /** SIGTERM, SIGKILL after `timeoutMs`; resolves with the exit code. */
  async stop(timeoutMs = 20_000): Promise<number | null> {
    if (this.#gone) return this.exited;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }
}

// ---- the service manager's notify socket ----

export interface Notification {
  /** CLOCK_MONOTONIC ns at receipt. */
  readonly at: bigint;
  /** KEY=VALUE assignments of the datagram. */
  readonly fields: ReadonlyMap<string, string>;
}

/**
 * The socket systemd would pass as NOTIFY_SOCKET, received by a small Python helper (Node cannot
 * open an AF_UNIX datagram socket). Every datagram is kept in order.
 */
export class NotifySocket {
  readonly path: string;
  readonly all: Notification[] = [];
  readonly #proc: LineProcess;
  readonly #waiters = new Set<() => void>();

  private constructor(socketPath: string) {
    this.path = socketPath;
    this.#proc = new LineProcess(
      'notify socket',
      PYTHON,
      [path.join(SCRIPTS, 'notify_socket.py'), socketPath],
      process.env,
    );
    this.#proc.onLine((line) => {
      if (line === undefined || line === 'bound') return;
      const space = line.indexOf(' ');
      const fields = new Map<string, string>();
      for (const a of line.slice(space + 1).split('\\n')) {
        const eq = a.indexOf('=');
        if (eq > 0) fields.set(a.slice(0, eq), a.slice(eq + 1));
      }
      this.all.push({ at: BigInt(line.slice(0, space)), fields });
      for (const w of [...this.#waiters]) w();
    });
  }

  static async open(socketPath: string): Promise<NotifySocket> {
    const s = new NotifySocket(socketPath);
    await s.#proc.waitLine((l) => (l === 'bound' ? true : undefined), 10_000, 'bound socket');
    return s;
  }

  /** The first notification at index `from` or later that `match` accepts, and its index. */
  async next(
    from: number,
    match: (n: Notification) => boolean,
    timeoutMs: number,
    what: string,
  ): Promise<{ n: Notification; index: number }> {
    const deadline = Date.now() + timeoutMs;
    for (let i = from; ;) {
      for (; i < this.all.length; i++) {
        const n = this.all[i];
        if (n && match(n)) return { n, index: i };
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${what} on the notify socket within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          this.#waiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, left);
        this.#waiters.add(done);
      });
    }
  }

  close(): Promise<number | null> {
    return this.#proc.stop();
  }
}

// ---- the SEQR simulator, its own process ----

export interface SimulatorProcess {
  readonly pid: number;
  readonly soapUrl: string;
  readonly controlUrl: string;
  readonly terminal: { id: string; password: string };
  close(): Promise<unknown>;
}

export const BENCH_TERMINAL = { id: 'b3e0c9d5a1f24e6f8a7b6c5d4e3f2a10', password: '12345678' };

/** `node dist/simulator/main.js` on a free port, as `npm run sim` runs it. */
export async function startSimulatorProcess(): Promise<SimulatorProcess> {
  const proc = new LineProcess(
    'simulator',
    process.execPath,
    [
      path.join(REPO, 'dist', 'simulator', 'main.js'),
      '--port',
      '0',
      '--terminal-id',
      BENCH_TERMINAL.id,
      '--terminal-password',
      BENCH_TERMINAL.password,
      '--no-ack-default',
    ],
    process.env,
  );
  const soapUrl = await proc.waitLine(
    (l) => /SOAP endpoint:\s+(\S+)/.exec(l)?.[1],
    20_000,
    'SOAP endpoint in the banner',
  );
  // The control API is on the same server (the banner's next line).
  const controlUrl = `${new URL(soapUrl).origin}/control`;
  return {
    pid: proc.pid,
    soapUrl,
    controlUrl,
    terminal: BENCH_TERMINAL,
    close: () => proc.stop(),
  };
}

/** One HTTP request on loopback with a JSON body; resolves status and body text. */
export function request(
  method: string,
  url: string,
  body?: unknown,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      url,
      {
        method,
        headers: data === undefined ? {} : { 'content-type': 'application/json' },
        agent: keepAlive,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, text });
        });
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}
const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 4 });

/** A request that must answer 2xx. */
export async function ok(method: string, url: string, body?: unknown): Promise<string> {
  const r = await request(method, url, body);
  if (r.status < 200 || r.status > 299)
    throw new Error(`${method} ${url} answered ${r.status}: ${r.text}`);
  return r.text;
}

// ---- the daemon as systemd starts it ----

export interface UnitCommand {
  readonly command: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  /** WatchdogSec= in microseconds, as systemd passes it in WATCHDOG_USEC. */
  readonly watchdogUsec: number | undefined;
}

/**
 * The unit file's ExecStart= and Environment=, with the installed copy's path mapped to this
 * checkout, `/usr/bin/node` to the Node.js running the benchmark, and `--config` to `configPath`.
 */
export function unitCommand(configPath: string, unitFile = UNIT_FILE): UnitCommand {
  const lines = readFileSync(unitFile, 'utf8')
    .split('\n')
    .map((l) => l.trim());
  const value = (key: string): string[] =>
    lines.filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1));
  const exec = value('ExecStart')[0];
  if (exec === undefined) throw new Error(`${unitFile}: no ExecStart=`);
  const words = exec.split(/\s+/).map((w) => w.replace(INSTALL_ROOT, `${REPO}/`));
  const at = words.indexOf('--config');
  if (at >= 0) words[at + 1] = configPath;
  const [, ...args] = words;
  const env: Record<string, string> = {};
  for (const assignments of value('Environment'))
    for (const a of assignments.split(/\s+/)) {
      const eq = a.indexOf('=');
      if (eq > 0) env[a.slice(0, eq)] = a.slice(eq + 1).replace(/^"|"$/g, '');
    }
  const wd = /^(\d+)(ms|s|min)?$/.exec(value('WatchdogSec')[0] ?? '');
  const unit = { ms: 1e3, s: 1e6, min: 6e7 }[(wd?.[2] ?? 's') as 'ms' | 's' | 'min'];
  return {
    command: process.execPath,
    args,
    env,
    watchdogUsec: wd ? Number(wd[1]) * unit : undefined,
  };
}

/** Ours in a production-like configuration: SEQR at the simulator, framebuffer to a file. */
export function daemonConfig(o: {
  readonly dir: string;
  readonly soapUrl: string;
  readonly terminalId: string;
  /** The kiosk page on a free loopback port: the only way to press a button from outside. */
  readonly kiosk: boolean;
  readonly timeouts?: Readonly<Record<string, number>>;
  readonly pulseMs?: number;
}): { configPath: string; device: string; credentials: string } {
  const device = path.join(o.dir, 'fb0');
  writeFileSync(device, Buffer.alloc(800 * 2 * 480));
  const credentials = path.join(o.dir, 'credentials');
  mkdirSync(credentials, { recursive: true, mode: 0o700 });
  writeFileSync(path.join(credentials, 'seqr-terminal-password'), `${BENCH_TERMINAL.password}\n`, {
    mode: 0o600,
  });
  const timeouts = Object.entries(o.timeouts ?? {})
    .map(([k, v]) => `${k}: ${String(v)}`)
    .join(', ');
  const pulse = o.pulseMs === undefined ? '' : `, pulseMs: ${String(o.pulseMs)}`;
  const configPath = path.join(o.dir, 'config.yaml');
  writeFileSync(
    configPath,
    `# demo mode only because production refuses an http:// SEQR endpoint; the adapters are the
# production ones: SEQR over SOAP, SQLite ledger, the framebuffer sink; GPIO is the fake.
mode: demo
machine: { name: Footprint bench }
merchant: { name: Bench }
seqr: { endpoint: "${o.soapUrl}", terminalId: "${o.terminalId}" }
products:
  - { slot: 1, name: Cola 33 cl, price: "25.00", buttonPin: 5, relayPin: 17${pulse} }
  - { slot: 2, name: Mineral water, price: "18.50", buttonPin: 6, relayPin: 27${pulse} }
buttons: { cancelPin: 26 }
gpio: { backend: fake }
display: { sink: framebuffer, device: "${device}", width: 800, height: 480, bitsPerPixel: 16, stride: 1600 }
printer: { type: none }
timeouts: { ${timeouts} }
kiosk: { enabled: ${String(o.kiosk)}, port: 0 }
stateDirectory: "${o.dir}/state"
control: { socketPath: "${o.dir}/control.sock" }
`,
  );
  return { configPath, device, credentials };
}

export interface DaemonOptions {
  readonly configPath: string;
  readonly credentials: string;
  readonly notify: NotifySocket;
  /** Node.js options added in front (e.g. --cpu-prof for a profile); FOOTPRINT_NODE_OPTIONS adds more. */
  readonly nodeOptions?: readonly string[];
  /** Extra environment (e.g. MALLOC_ARENA_MAX). */
  readonly env?: Readonly<Record<string, string>>;
}

/** A running daemon: its pid, its READY time, its log lines and kiosk URL. */
export class Daemon {
  readonly #proc: LineProcess;
  /** CLOCK_MONOTONIC ns just before spawn. */
  readonly spawnedAt: bigint;
  readonly #notify: NotifySocket;
  readonly #from: number;
  kioskUrl: string | undefined;

  constructor(o: DaemonOptions) {
    const unit = unitCommand(o.configPath);
    const extra = (process.env['FOOTPRINT_NODE_OPTIONS'] ?? '').split(/\s+/).filter(Boolean);
    const env: NodeJS.ProcessEnv = {
      // What systemd gives a service: a minimal PATH, the unit's Environment=, the invocation,
      // credentials and notify socket, and the watchdog period.
      PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      LANG: 'C.UTF-8',
      INVOCATION_ID: '0123456789abcdef0123456789abcdef',
      CREDENTIALS_DIRECTORY: o.credentials,
      NOTIFY_SOCKET: o.notify.path,
      ...(unit.watchdogUsec === undefined ? {} : { WATCHDOG_USEC: String(unit.watchdogUsec) }),
      ...unit.env,
      ...o.env,
    };
    this.#notify = o.notify;
    this.#from = o.notify.all.length;
    this.spawnedAt = monoNs();
    this.#proc = new LineProcess(
      'daemon',
      unit.command,
      [...(o.nodeOptions ?? []), ...extra, ...unit.args],
      env,
    );
    this.#proc.onLine((line) => {
      if (line === undefined || this.kioskUrl !== undefined) return;
      const m = /"msg":"virtual kiosk listening"/.test(line) ? /"url":"([^"]+)"/.exec(line) : null;
      if (m?.[1]) this.kioskUrl = m[1].replace(/\/$/, '');
    });
  }

  get pid(): number {
    return this.#proc.pid;
  }

  /** Index into the notify socket's messages where this process's begin. */
  get notifyFrom(): number {
    return this.#from;
  }

  /** CPU time (all threads) the process had used when READY=1 arrived, ms. */
  cpuAtReady = Number.NaN;

  /** ms from spawn to READY=1 on the notify socket. */
  async ready(timeoutMs = 60_000): Promise<number> {
    const exited = this.#proc.exited.then(() => {
      throw new Error(`daemon exited before READY=1:\n  ${this.#proc.tail.join('\n  ')}`);
    });
    const { n } = await Promise.race([
      this.#notify.next(this.#from, (m) => m.fields.get('READY') === '1', timeoutMs, 'READY=1'),
      exited,
    ]);
    this.cpuAtReady = cpuMs(this.pid);
    return msBetween(this.spawnedAt, n.at);
  }

  /** The first log line from now on matching `re`. */
  logLine(re: RegExp, timeoutMs: number, what: string): Promise<string> {
    return this.#proc.waitLine((l) => (re.test(l) ? l : undefined), timeoutMs, what);
  }

  stop(): Promise<number | null> {
    return this.#proc.stop();
  }
}

// ---- the suds comparison client ----

/** The cash-register sample's WSDL (reference data under ../shared), or undefined when absent. */
export function referenceWsdl(): string | undefined {
  const file = path.resolve(
    REPO,
    '..',
    'shared',
    'seqr',
    'reference-wsdl',
    'seqr-cashregister-sample',
    'ERSWSExternalClientService.wsdl',
  );
  try {
    readFileSync(file);
    return file;
  } catch {
    return undefined;
  }
}

/** Python suds polling one invoice of its own terminal once a second (suds_poll.py). */
export class SudsPoller {
  readonly #proc: LineProcess;
  polls = 0;

  private constructor(wsdl: string, soapUrl: string, terminal: { id: string; password: string }) {
    this.#proc = new LineProcess(
      'suds',
      PYTHON,
      [path.join(SCRIPTS, 'suds_poll.py'), wsdl, soapUrl, terminal.id, terminal.password],
      process.env,
    );
    this.#proc.onLine((line) => {
      if (line?.startsWith('poll ')) this.polls++;
    });
  }

  static async start(
    wsdl: string,
    soapUrl: string,
    terminal: { id: string; password: string },
  ): Promise<SudsPoller> {
    const p = new SudsPoller(wsdl, soapUrl, terminal);
    await p.#proc.waitLine((l) => (l.startsWith('ready ') ? true : undefined), 30_000, 'invoice');
    return p;
  }

  get pid(): number {
    return this.#proc.pid;
  }

  close(): Promise<number | null> {
    this.#proc.child.stdin?.end();
    return this.#proc.stop();
  }
}
