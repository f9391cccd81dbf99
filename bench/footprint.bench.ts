// Footprint of the daemon as an operator runs it (issue 16), every figure against its goal: the
// built CLI spawned with the unit file's command line and environment, READY=1 observed on a
// NOTIFY_SOCKET this benchmark owns, the SEQR simulator in its own process, fake GPIO, an 800x480
// RGB565 framebuffer written to a file, no printer. Memory, wakeups and CPU come from /proc.
//
// Processes: start-up and idle run with the kiosk off (production); pressing a button from
// another process needs the kiosk page's button API, so press -> frame, CPU per poll and the soak
// run a daemon with the kiosk on (its overhead is shown beside the production figures).
//
// Sizes (environment): FOOTPRINT_PURCHASES (soak, default 2,000; the goal is over 20,000),
// FOOTPRINT_CURVE_EVERY (1,000), FOOTPRINT_STARTS (5 cold and 5 warm), FOOTPRINT_PRESSES (100),
// FOOTPRINT_POLL_WINDOW_S (60), FOOTPRINT_IDLE_S (60); FOOTPRINT_ONLY=startup,idle,press,poll,soak
// runs some parts only. FOOTPRINT_NODE_OPTIONS adds Node.js options to the daemon (a profile).
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, watch } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { percentile, type Bench, type BenchResult, type Figure } from './lib.js';
import {
  BENCH_TERMINAL,
  Daemon,
  LoadMonitor,
  NotifySocket,
  SudsPoller,
  cpuMs,
  daemonConfig,
  dropCaches,
  monoNs,
  msBetween,
  ok,
  referenceWsdl,
  rssMiB,
  rssParts,
  sleep,
  startSimulatorProcess,
  wakeups,
  type SimulatorProcess,
} from './footprint/rig.js';

const num = (name: string, fallback: number): number => {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? v : fallback;
};
const SIZES = {
  purchases: num('FOOTPRINT_PURCHASES', 2_000),
  curveEvery: num('FOOTPRINT_CURVE_EVERY', 1_000),
  starts: num('FOOTPRINT_STARTS', 5),
  presses: num('FOOTPRINT_PRESSES', 100),
  pollWindowMs: num('FOOTPRINT_POLL_WINDOW_S', 60) * 1_000,
  idleMs: num('FOOTPRINT_IDLE_S', 60) * 1_000,
};
const only = (process.env['FOOTPRINT_ONLY'] ?? '').split(',').filter(Boolean);
const runs = (part: string): boolean => only.length === 0 || only.includes(part);

/** One whole 800x480 RGB565 frame. */
const FRAME_BYTES = 800 * 480 * 2;
const SUDS_TERMINAL = { id: 'f00dbabe5a1f24e6f8a7b6c5d4e3f2a1', password: 'suds-bench-1' };

const p50 = (s: readonly number[]): number => percentile(s, 50);
const log = (msg: string): void => {
  console.error(`  footprint: ${msg}`);
};

interface Env {
  readonly dir: string;
  readonly notify: NotifySocket;
  readonly sim: SimulatorProcess;
}

/** A fresh configuration directory for one kind of daemon. */
function configFor(
  env: Env,
  name: string,
  kiosk: boolean,
  extra: { timeouts?: Record<string, number>; pulseMs?: number } = {},
): ReturnType<typeof daemonConfig> {
  const dir = path.join(env.dir, name);
  mkdirSync(dir, { recursive: true });
  return daemonConfig({
    dir,
    soapUrl: env.sim.soapUrl,
    terminalId: env.sim.terminal.id,
    kiosk,
    ...extra,
  });
}

function startDaemon(env: Env, cfg: ReturnType<typeof daemonConfig>): Daemon {
  return new Daemon({
    configPath: cfg.configPath,
    credentials: cfg.credentials,
    notify: env.notify,
  });
}

// ---- start-up ----

/** Spawn -> exit of `node -e 0`, the floor of any Node.js start. */
function bareNode(): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = monoNs();
    const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
    child.once('error', reject);
    child.once('exit', () => {
      resolve(msBetween(t0, monoNs()));
    });
  });
}

async function startups(env: Env): Promise<Figure[]> {
  const cfg = configFor(env, 'start', false);
  const cpu = { warm: [] as number[], cold: [] as number[] };
  const once = async (kind?: 'warm' | 'cold'): Promise<number> => {
    const d = startDaemon(env, cfg);
    try {
      const ms = await d.ready();
      if (kind) cpu[kind].push(d.cpuAtReady);
      return ms;
    } finally {
      await d.stop();
    }
  };
  // The first start creates the ledger, as the first boot of an installed machine does.
  await once();
  const warm: number[] = [];
  const cold: number[] = [];
  const bareWarm: number[] = [];
  const bareCold: number[] = [];
  let canDrop = true;
  for (let i = 0; i < SIZES.starts; i++) {
    warm.push(await once('warm'));
    bareWarm.push(await bareNode());
    if (canDrop && (canDrop = dropCaches())) cold.push(await once('cold'));
    if (canDrop && dropCaches()) bareCold.push(await bareNode());
  }
  if (!canDrop) log('cannot write /proc/sys/vm/drop_caches (not root?): no cold starts');
  const list = (v: number[]): string => v.map((x) => x.toFixed(0)).join(' ');
  log(`spawn -> READY=1 warm ${list(warm)} ms, CPU ${list(cpu.warm)} ms`);
  log(`spawn -> READY=1 cold ${list(cold)} ms, CPU ${list(cpu.cold)} ms`);
  return [
    {
      name: 'spawn -> READY=1 p50, cold (page cache dropped)',
      value: p50(cold),
      unit: 'ms',
      goal: 700,
    },
    { name: 'spawn -> READY=1 max, cold', value: Math.max(...cold), unit: 'ms' },
    { name: 'spawn -> READY=1 p50, warm', value: p50(warm), unit: 'ms', goal: 500 },
    { name: 'spawn -> READY=1 max, warm', value: Math.max(...warm), unit: 'ms' },
    { name: 'CPU time used until READY=1 p50, cold', value: p50(cpu.cold), unit: 'ms' },
    { name: 'CPU time used until READY=1 p50, warm', value: p50(cpu.warm), unit: 'ms' },
    { name: 'node -e 0, spawn -> exit p50, cold', value: p50(bareCold), unit: 'ms' },
    { name: 'node -e 0, spawn -> exit p50, warm', value: p50(bareWarm), unit: 'ms' },
  ];
}

// ---- idle: production process, kiosk off ----

async function idle(env: Env): Promise<Figure[]> {
  const d = startDaemon(env, configFor(env, 'idle', false));
  try {
    await d.ready();
    const pid = d.pid;
    await sleep(5_000);
    const rss5 = rssMiB(pid);
    const parts5 = rssParts(pid);
    const w0 = wakeups(pid);
    const c0 = cpuMs(pid);
    const n0 = env.notify.all.length;
    await sleep(SIZES.idleMs);
    const w1 = wakeups(pid);
    const c1 = cpuMs(pid);
    const pings = env.notify.all.slice(n0).filter((n) => n.fields.get('WATCHDOG') === '1').length;
    const settled = rssMiB(pid);
    const parts = rssParts(pid);
    const perMin = 60_000 / SIZES.idleMs;
    return [
      { name: 'RSS 5 s after READY', value: rss5, unit: 'MiB', goal: 80 },
      {
        name: '  of which anonymous (JS heap, malloc, buffers)',
        value: parts5.anon,
        unit: 'MiB',
      },
      {
        name: '  of which file-backed (node binary, libraries, addons)',
        value: parts5.file,
        unit: 'MiB',
      },
      {
        name: `RSS settled (${String(SIZES.idleMs / 1000 + 5)} s after READY, idle)`,
        value: settled,
        unit: 'MiB',
        goal: 70,
      },
      { name: '  of which anonymous', value: parts.anon, unit: 'MiB' },
      { name: 'idle: watchdog pings per minute', value: pings * perMin, unit: 'count' },
      {
        name: 'idle: main-thread wakeups per minute',
        value: (w1.main - w0.main) * perMin,
        unit: 'count',
      },
      {
        name: 'idle: wakeups of all threads per minute',
        value: (w1.all - w0.all) * perMin,
        unit: 'count',
      },
      { name: 'idle: CPU', value: ((c1 - c0) / SIZES.idleMs) * 100, unit: '%' },
    ];
  } finally {
    await d.stop();
  }
}

// ---- driven processes: the kiosk's button API as the only input ----

/** Writes to the framebuffer file as inotify reports them (CLOCK_MONOTONIC ns). */
class FrameWatch {
  readonly times: bigint[] = [];
  readonly #w;
  constructor(device: string) {
    this.#w = watch(device, () => {
      this.times.push(monoNs());
    });
  }

  /** Resolves once no write came for `quietMs`. */
  async quiet(quietMs: number): Promise<void> {
    for (;;) {
      const last = this.times.at(-1);
      if (last === undefined || msBetween(last, monoNs()) >= quietMs) return;
      await sleep(quietMs / 4);
    }
  }

  /** The writes after `from` once `quietMs` passed without another (empty after `timeoutMs`). */
  async burstAfter(from: bigint, quietMs: number, timeoutMs: number): Promise<bigint[]> {
    for (;;) {
      await sleep(quietMs / 6);
      const burst = this.times.filter((t) => t >= from);
      const last = burst.at(-1);
      if (last !== undefined && msBetween(last, monoNs()) >= quietMs) return burst;
      if (msBetween(from, monoNs()) > timeoutMs) return burst;
    }
  }

  close(): void {
    this.#w.close();
  }
}

/** Bytes this process passed to write-like system calls (frames, logs, sockets). */
function wchar(pid: number): number {
  return Number(/^wchar:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1]);
}

interface Driven {
  readonly d: Daemon;
  readonly kiosk: string;
  readonly device: string;
  press(kind: 'product' | 'cancel', slot?: number): Promise<void>;
  /** Resolves with the invoice reference of the next "awaiting payment" STATUS= after `from`. */
  awaiting(from: number): Promise<{ ref: string; index: number }>;
  /** Resolves at the next STATUS=idle after `from`. */
  idle(from: number): Promise<number>;
}

async function driven(
  env: Env,
  name: string,
  extra: { timeouts?: Record<string, number>; pulseMs?: number },
): Promise<Driven> {
  const cfg = configFor(env, name, true, extra);
  const d = startDaemon(env, cfg);
  await d.ready();
  const kiosk = d.kioskUrl;
  if (kiosk === undefined) throw new Error('the kiosk did not log its URL before READY');
  const status = (prefix: string) => (n: { fields: ReadonlyMap<string, string> }) =>
    n.fields.get('STATUS')?.startsWith(prefix) ?? false;
  return {
    d,
    kiosk,
    device: cfg.device,
    press: async (kind, slot) => {
      await ok('POST', `${kiosk}/api/press`, {
        button: kind === 'cancel' ? { kind } : { kind, slot },
      });
    },
    awaiting: async (from) => {
      const { n, index } = await env.notify.next(
        from,
        status('awaiting payment '),
        30_000,
        'STATUS=awaiting payment',
      );
      return { ref: (n.fields.get('STATUS') ?? '').slice('awaiting payment '.length), index };
    },
    idle: async (from) =>
      (await env.notify.next(from, (n) => n.fields.get('STATUS') === 'idle', 60_000, 'STATUS=idle'))
        .index,
  };
}

async function pressToFrame(env: Env, m: Driven): Promise<Figure[]> {
  const frames = new FrameWatch(m.device);
  const samples: number[] = [];
  const perPress: number[] = [];
  try {
    await sleep(1_000);
    for (let i = 0; i < SIZES.presses; i++) {
      await frames.quiet(300);
      const from = env.notify.all.length;
      const w0 = wchar(m.d.pid);
      const t0 = monoNs();
      await m.press('product', 1);
      // The burst of writes the press caused: over once 300 ms pass without another (the first
      // time-left tick comes a second after the pay screen).
      const burst = await frames.burstAfter(t0, 300, 10_000);
      const w1 = wchar(m.d.pid);
      const last = burst.at(-1);
      samples.push(last === undefined ? Number.NaN : msBetween(t0, last));
      perPress.push(Math.floor((w1 - w0) / FRAME_BYTES));
      const { index } = await m.awaiting(from);
      await m.press('cancel');
      await m.idle(index + 1);
    }
  } finally {
    frames.close();
  }
  return [
    { name: 'press -> pay frame written p50', value: p50(samples), unit: 'ms', goal: 15 },
    {
      name: 'press -> pay frame written p99',
      value: percentile(samples, 99),
      unit: 'ms',
      goal: 40,
    },
    { name: 'press -> pay frame written max', value: Math.max(...samples), unit: 'ms' },
    {
      name: 'whole frames written per press, max',
      value: Math.max(...perPress),
      unit: 'count',
      goal: 1,
    },
    {
      name: 'whole frames written per press, mean',
      value: perPress.reduce((a, b) => a + b, 0) / perPress.length,
      unit: 'count',
    },
  ];
}

interface CallRecord {
  op: string;
  at: number;
  terminalId?: string;
}

async function cpuPerPoll(env: Env, m: Driven): Promise<{ figures: Figure[]; note?: string }> {
  const wsdl = referenceWsdl();
  let suds: SudsPoller | undefined;
  if (wsdl === undefined) log('../shared is absent: no suds comparison');
  else {
    await ok('POST', `${env.sim.controlUrl}/terminals`, SUDS_TERMINAL);
    suds = await SudsPoller.start(wsdl, env.sim.soapUrl, SUDS_TERMINAL);
  }
  try {
    const from = env.notify.all.length;
    await m.press('product', 1);
    const { index } = await m.awaiting(from);
    await sleep(3_000);
    const t0 = Date.now();
    const ours0 = cpuMs(m.d.pid);
    const suds0 = suds ? cpuMs(suds.pid) : Number.NaN;
    await sleep(SIZES.pollWindowMs);
    const ours1 = cpuMs(m.d.pid);
    const suds1 = suds ? cpuMs(suds.pid) : Number.NaN;
    const t1 = Date.now();
    const calls = JSON.parse(await ok('GET', `${env.sim.controlUrl}/calls`)) as CallRecord[];
    const polls = (terminal: string): number =>
      calls.filter(
        (c) => c.op === 'getPaymentStatus' && c.terminalId === terminal && c.at >= t0 && c.at < t1,
      ).length;
    const ours = (ours1 - ours0) / polls(BENCH_TERMINAL.id);
    const theirs = (suds1 - suds0) / polls(SUDS_TERMINAL.id);
    await m.press('cancel');
    await m.idle(index + 1);
    return {
      figures: [
        { name: 'CPU per poll cycle, ours (QR shown, time-left ticking)', value: ours, unit: 'ms' },
        {
          name: 'CPU per poll, Python suds client, same simulator, same time',
          value: theirs,
          unit: 'ms',
        },
        { name: 'CPU per poll, ours / suds', value: ours / theirs, unit: 'x', goal: 0.7 },
        { name: 'polls in the window, ours', value: polls(BENCH_TERMINAL.id), unit: 'count' },
      ],
    };
  } finally {
    await suds?.close();
  }
}

async function soak(env: Env, m: Driven): Promise<{ figures: Figure[]; curve: string }> {
  const curve: { purchases: number; rss: number; anon: number }[] = [];
  const checkpoint = async (purchases: number): Promise<void> => {
    // The thank-you screen ends, the idle screen is drawn; then the median of five samples.
    await sleep(1_500);
    const rss: number[] = [];
    for (let k = 0; k < 5; k++) {
      rss.push(rssMiB(m.d.pid));
      await sleep(200);
    }
    const point = { purchases, rss: p50(rss), anon: rssParts(m.d.pid).anon };
    curve.push(point);
    log(
      `soak ${String(purchases).padStart(6)} purchases: RSS ${point.rss.toFixed(1)} MiB (anonymous ${point.anon.toFixed(1)})`,
    );
  };
  await sleep(1_000);
  await checkpoint(0);
  const started = Date.now();
  for (let i = 1; i <= SIZES.purchases; i++) {
    const from = env.notify.all.length;
    await m.press('product', 1 + (i % 2));
    const { ref, index } = await m.awaiting(from);
    // One in ten cancelled at the machine, the rest paid in the app.
    if (i % 10 === 0) await m.press('cancel');
    else await ok('POST', `${env.sim.controlUrl}/invoices/${encodeURIComponent(ref)}/pay`);
    await m.idle(index + 1);
    if (i % SIZES.curveEvery === 0 || i === SIZES.purchases) await checkpoint(i);
  }
  const seconds = (Date.now() - started) / 1000;
  // Least-squares slope of RSS over purchases from the first 1,000 on (a short run: from the
  // first point after 0).
  const skip = SIZES.purchases >= 2_000 ? 1_000 : Math.min(SIZES.curveEvery, SIZES.purchases);
  const tail = curve.filter((p) => p.purchases >= skip);
  const slope = (key: 'rss' | 'anon'): number => {
    if (tail.length < 2) return Number.NaN;
    const mx = tail.reduce((a, p) => a + p.purchases, 0) / tail.length;
    const my = tail.reduce((a, p) => a + p[key], 0) / tail.length;
    const sxy = tail.reduce((a, p) => a + (p.purchases - mx) * (p[key] - my), 0);
    const sxx = tail.reduce((a, p) => a + (p.purchases - mx) ** 2, 0);
    return (sxy / sxx) * 10_000;
  };
  const figures: Figure[] = curve.map((p) => ({
    name: `  RSS idle after ${p.purchases.toLocaleString('en')} purchases`,
    value: p.rss,
    unit: 'MiB',
  }));
  figures.unshift(
    {
      name: `RSS growth per 10,000 purchases after the first ${skip.toLocaleString('en')} (${SIZES.purchases.toLocaleString('en')} purchases)`,
      value: slope('rss'),
      unit: 'MiB',
      goal: 2,
    },
    { name: '  anonymous memory growth per 10,000 purchases', value: slope('anon'), unit: 'MiB' },
    {
      name: '  purchases per second (200 ms polls, 20 ms pulses)',
      value: SIZES.purchases / seconds,
      unit: 'per s',
    },
  );
  return {
    figures,
    curve: curve.map((p) => `${String(p.purchases)}: ${p.rss.toFixed(1)} MiB`).join(', '),
  };
}

const bench: Bench = async () => {
  const load = new LoadMonitor();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'seqr-footprint-'));
  const notify = await NotifySocket.open(path.join(dir, 'notify.sock'));
  const sim = await startSimulatorProcess();
  const env: Env = { dir, notify, sim };
  const results: BenchResult[] = [];
  try {
    if (runs('startup')) {
      log(`spawn -> READY=1, ${String(SIZES.starts)} cold and ${String(SIZES.starts)} warm starts`);
      results.push({ title: 'footprint start-up', figures: await startups(env) });
    }
    if (runs('idle')) {
      log(`RSS and wakeups, production process (kiosk off), ${String(SIZES.idleMs / 1000)} s idle`);
      results.push({ title: 'footprint idle', figures: await idle(env) });
    }
    if (runs('press') || runs('poll')) {
      // Production timings (1 s polls); a payment window longer than the CPU window.
      const m = await driven(env, 'driven', {
        timeouts: {
          paymentWindowMs: Math.min(300_000, SIZES.pollWindowMs + 60_000),
          outcomeMs: 500,
        },
      });
      try {
        await sleep(5_000);
        const figures: Figure[] = [
          {
            name: 'RSS 5 s after READY with the kiosk on (button input)',
            value: rssMiB(m.d.pid),
            unit: 'MiB',
          },
        ];
        if (runs('press')) {
          log(`press -> pay frame, ${String(SIZES.presses)} presses`);
          figures.push(...(await pressToFrame(env, m)));
        }
        results.push({ title: 'footprint display', figures });
        if (runs('poll')) {
          log(`CPU per poll over ${String(SIZES.pollWindowMs / 1000)} s, ours and suds at once`);
          results.push({ title: 'footprint CPU', figures: (await cpuPerPoll(env, m)).figures });
        }
      } finally {
        await m.d.stop();
      }
    }
    if (runs('soak')) {
      log(
        `soak of ${SIZES.purchases.toLocaleString('en')} purchases, RSS every ${String(SIZES.curveEvery)}`,
      );
      const m = await driven(env, 'soak', {
        timeouts: { pollIntervalMs: 200, thankYouMs: 500, outcomeMs: 500 },
        pulseMs: 20,
      });
      try {
        const s = await soak(env, m);
        results.push({
          title: 'footprint soak',
          figures: s.figures,
          note: `RSS curve: ${s.curve}`,
        });
      } finally {
        await m.d.stop();
      }
    }
  } finally {
    await sim.close();
    await notify.close();
    rmSync(dir, { recursive: true, force: true });
  }
  const l = load.stop();
  results.push({
    title: 'footprint machine',
    figures: [
      { name: 'load average (1 min) during the run, mean', value: l.meanLoad, unit: '' },
      { name: 'load average (1 min) during the run, max', value: l.maxLoad, unit: '' },
      {
        name: `CPU busy, all ${String(os.cpus().length)} cores, whole machine`,
        value: l.busyPercent,
        unit: '%',
      },
    ],
    note: 'other work ran on the machine at the same time; latencies and start-up suffer most',
  });
  return results;
};

export default bench;
