// End-to-end figures of the whole terminal against the SEQR simulator on loopback, with whole
// frames written to a file standing in for /dev/fb0, each measured in the same run for ours and
// for the baseline (bench/baseline.ts: the official sample's setInterval loop).
// Sizes: E2E_QUICK=1 for a short development run; E2E_SOAK, E2E_RSS_PURCHASES, E2E_IDLE_MS override.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { systemClock } from '../daemon/ports/clock.js';
import type { Screen } from '../daemon/ports/display.js';
import type { Fault } from '../simulator/index.js';
import {
  FrameWatch,
  benchSimulator,
  fakeFramebuffer,
  oursConfigText,
  writeTerminalCredential,
  pollStats,
  sleep,
  startSide,
  totalViolations,
  type Side,
  type SideName,
  type Violations,
} from './e2e-rig.js';
import { compared, percentile, type Bench, type BenchResult, type Figure } from './lib.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const quick = process.env['E2E_QUICK'] === '1';
const num = (name: string, full: number, short: number): number => {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? v : quick ? short : full;
};
const SIZES = {
  presses: num('E2E_PRESSES', 100, 10),
  payments: num('E2E_PAYMENTS', 40, 5),
  pollIntervals: num('E2E_POLLS', 40, 6),
  starts: num('E2E_STARTS', 5, 2),
  idleMs: num('E2E_IDLE_MS', 60_000, 5_000),
  rssPurchases: num('E2E_RSS_PURCHASES', 2_000, 50),
  soak: num('E2E_SOAK', 10_000, 100),
};

type Pair<T> = Record<SideName, T>;

async function both<T>(fn: (side: SideName) => Promise<T>, parallel: boolean): Promise<Pair<T>> {
  if (parallel) {
    const [ours, baseline] = await Promise.all([fn('ours'), fn('baseline')]);
    return { ours, baseline };
  }
  return { ours: await fn('ours'), baseline: await fn('baseline') };
}

const p50 = (s: readonly number[]): number => percentile(s, 50);
const p99 = (s: readonly number[]): number => percentile(s, 99);
const max = (s: readonly number[]): number => Math.max(...s);

/** A side on the real clock with its own simulator and temp dir. */
async function withSide<T>(
  name: SideName,
  opts: { deadlineMs?: number; longWindow?: boolean },
  fn: (side: Side) => Promise<T>,
): Promise<T> {
  const dir = mkdtempSync(path.join(os.tmpdir(), `seqr-e2e-${name}-`));
  const sim = await benchSimulator();
  const side = await startSide(name, {
    dir,
    clock: systemClock,
    realClock: true,
    sim,
    ...(opts.deadlineMs ? { deadlineMs: opts.deadlineMs } : {}),
    ...(opts.longWindow ? { windowMs: 300_000 } : {}),
    // The shortest screens after a purchase the configuration allows, so the next one starts
    // sooner; the paths measured are not affected.
    timeouts: {
      thankYouMs: 500,
      outcomeMs: 500,
      ...(opts.longWindow ? { paymentWindowMs: 300_000, stillPayingWindowMs: 300_000 } : {}),
    },
  });
  try {
    await sleep(200);
    return await fn(side);
  } finally {
    await side.close();
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function untilIdle(side: Side): Promise<void> {
  while (!side.idle() || side.sim.control.activeInvoice()) await sleep(5);
}

function screenAsked(side: Side, kind: Screen['kind']): Promise<number> {
  return new Promise((resolve) => {
    const off = side.onScreen((s) => {
      if (s.kind !== kind) return;
      off();
      resolve(performance.now());
    });
  });
}

/**
 * Button press -> the pay screen's frame written to the framebuffer file (inotify on the file:
 * the last write of the burst that follows the terminal asking for the pay screen).
 */
async function pressToPayFrame(side: Side, n: number): Promise<number[]> {
  const frames = new FrameWatch(side.device);
  const samples: number[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const asked = screenAsked(side, 'pay');
      const t0 = performance.now();
      side.press(1);
      samples.push((await frames.lastAfter(await asked)) - t0);
      side.cancel();
      await untilIdle(side);
      await sleep(20);
    }
  } finally {
    frames.close();
  }
  return samples;
}

/**
 * The customer confirms at a random point of the poll cycle -> relay energised; and, without the
 * wait for the next poll, the PAID answer leaving the simulator -> relay energised.
 */
async function paidToRelay(
  side: Side,
  n: number,
): Promise<{ total: number[]; afterAnswer: number[] }> {
  const total: number[] = [];
  const afterAnswer: number[] = [];
  for (let i = 0; i < n; i++) {
    const asked = screenAsked(side, 'pay');
    side.press(1);
    await asked;
    await sleep(Math.random() * 1000);
    const ref = side.sim.control.activeInvoice()?.reference;
    if (!ref) throw new Error(`${side.name}: no open invoice`);
    const relay = new Promise<{ perf: number; at: number }>((resolve) => {
      const off = side.dispenser.onRelay((edge) => {
        if (!edge.energised) return;
        off();
        resolve({ perf: performance.now(), at: edge.at });
      });
    });
    const paidAt = Date.now();
    const t0 = performance.now();
    side.sim.control.pay(ref);
    const energised = await relay;
    total.push(energised.perf - t0);
    const answer = side.sim.control
      .calls()
      .find((c) => c.op === 'getPaymentStatus' && c.at >= paidAt && c.endedAt !== undefined);
    afterAnswer.push(energised.at - (answer?.endedAt ?? Number.NaN));
    await untilIdle(side);
  }
  return { total, afterAnswer };
}

interface PollFigures {
  mean: number;
  maxDeviation: number;
  maxGap: number;
  overlaps: number;
  maxInFlight: number;
}

async function pollPeriod(side: Side, fault: Fault | undefined, n: number): Promise<PollFigures> {
  const sim = side.sim;
  if (fault) sim.control.injectFault('getPaymentStatus', fault);
  side.press(1);
  const status = (): ReturnType<typeof sim.control.calls> =>
    sim.control.calls().filter((c) => c.op === 'getPaymentStatus');
  while (status().length < n + 1) await sleep(50);
  const calls = status().slice(0, n + 1);
  side.cancel();
  sim.control.clearFaults();
  return {
    ...pollStats(calls, 1000),
    maxInFlight: sim.control.maxConcurrentCalls('getPaymentStatus'),
  };
}

// ---- processes ----

function waitLine(child: ChildProcess, needle: string): Promise<number> {
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      if (buf.includes(needle)) resolve(performance.now());
      if (buf.length > 1e6) buf = buf.slice(-1e5);
    });
    child.once('exit', (code) => {
      reject(new Error(`exited with ${String(code)} before ${needle}`));
    });
  });
}

interface Started {
  child: ChildProcess;
  ready: number;
  firstFrame: number;
}

/** Spawns one terminal process; times stdout `"msg":"ready"` and the first write to the fb file. */
async function spawnTerminal(
  name: SideName,
  dir: string,
  soapUrl: string,
  terminal: { readonly id: string; readonly password: string },
): Promise<Started> {
  const terminalId = terminal.id;
  const device = fakeFramebuffer(dir);
  const frames = new FrameWatch(device);
  let argv: string[];
  if (name === 'ours') {
    const config = path.join(dir, 'config.yaml');
    writeFileSync(config, oursConfigText({ dir, device, soapUrl, terminalId }));
    writeTerminalCredential(dir, terminal.password);
    argv = [path.resolve(here, '../daemon/main.js'), '--config', config];
  } else {
    argv = [path.join(here, 'e2e-worker.js'), 'serve-baseline', soapUrl, terminalId, device];
  }
  const t0 = performance.now();
  const child = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const ready = await waitLine(child, '"msg":"ready"');
    const frameAt = await frames.firstAfter(t0);
    return { child, ready: ready - t0, firstFrame: frameAt - t0 };
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  } finally {
    frames.close();
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  let gone = false as boolean;
  const exited = new Promise<void>((r) =>
    child.once('exit', () => {
      gone = true;
      r();
    }),
  );
  child.kill('SIGTERM');
  await Promise.race([exited, sleep(5000)]);
  if (!gone) child.kill('SIGKILL');
}

const CLK_TCK = 100;
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}
function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

/** Start-up times: spawn -> READY line and -> first frame, `starts` times one after the other. */
async function startTimes(
  name: SideName,
  starts: number,
): Promise<{ ready: number[]; frame: number[] }> {
  const sim = await benchSimulator();
  const ready: number[] = [];
  const frame: number[] = [];
  try {
    for (let i = 0; i < starts; i++) {
      const dir = mkdtempSync(path.join(os.tmpdir(), `seqr-e2e-proc-${name}-`));
      try {
        const s = await spawnTerminal(name, dir, sim.soapUrl, sim.terminal);
        ready.push(s.ready);
        frame.push(s.firstFrame);
        await stopChild(s.child);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  } finally {
    await sim.close();
  }
  return { ready, frame };
}

/** CPU % of an idle terminal process over `idleMs` (from /proc, after 2 s to settle), and its RSS. */
async function idleFigures(name: SideName, idleMs: number): Promise<{ cpu: number; rss: number }> {
  const sim = await benchSimulator();
  const dir = mkdtempSync(path.join(os.tmpdir(), `seqr-e2e-idle-${name}-`));
  try {
    const { child } = await spawnTerminal(name, dir, sim.soapUrl, sim.terminal);
    try {
      const pid = child.pid ?? 0;
      await sleep(2000);
      const c0 = cpuTicks(pid);
      await sleep(idleMs);
      return {
        cpu: ((cpuTicks(pid) - c0) / CLK_TCK / (idleMs / 1000)) * 100,
        rss: rssOf(pid),
      };
    } finally {
      await stopChild(child);
    }
  } finally {
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs the worker in its own process and parses its last stdout line. */
function worker(args: string[]): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--expose-gc', path.join(here, 'e2e-worker.js'), ...args],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => {
      const last = out.trim().split('\n').pop() ?? '';
      try {
        if (code !== 0) throw new Error(`worker ${args.join(' ')} exited with ${String(code)}`);
        resolve(JSON.parse(last) as Record<string, unknown>);
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
  });
}

const n = (v: unknown): number => (typeof v === 'number' ? v : Number.NaN);

const bench: Bench = async () => {
  const results: BenchResult[] = [];
  const log = (msg: string): void => {
    console.error(`  e2e: ${msg}`);
  };

  log(`press -> pay frame, ${SIZES.presses} presses each`);
  const press = await both(
    (s) => withSide(s, {}, (side) => pressToPayFrame(side, SIZES.presses)),
    false,
  );
  results.push({
    title: 'e2e press -> pay screen frame written',
    figures: [
      compared('p50', p50(press.ours), p50(press.baseline), 'ms'),
      compared('p99', p99(press.ours), p99(press.baseline), 'ms'),
    ],
    note: `${SIZES.presses} presses each, real clock, 800x480 RGB565 frames to a file; ours records the purchase in SQLite (fsync) before sendInvoice`,
  });

  log(`PAID -> relay, ${SIZES.payments} payments each (both sides at once)`);
  const paid = await both(
    (s) => withSide(s, {}, (side) => paidToRelay(side, SIZES.payments)),
    true,
  );
  results.push({
    title: 'e2e PAID at the simulator -> relay energised',
    figures: [
      compared('p50', p50(paid.ours.total), p50(paid.baseline.total), 'ms'),
      compared('p99', p99(paid.ours.total), p99(paid.baseline.total), 'ms'),
      compared('max', max(paid.ours.total), max(paid.baseline.total), 'ms'),
      compared(
        'PAID answer sent -> relay p50',
        p50(paid.ours.afterAnswer),
        p50(paid.baseline.afterAnswer),
        'ms',
      ),
      compared(
        'PAID answer sent -> relay max',
        max(paid.ours.afterAnswer),
        max(paid.baseline.afterAnswer),
        'ms',
      ),
    ],
    note: `${SIZES.payments} payments each at a random point of the 1 s poll cycle; "PAID answer sent" = the end of the status call that returned PAID, by the simulator's ms clock; ours records PAID durably before the relay`,
  });

  const faults: [string, Fault | undefined, number][] = [
    ['normal answers', undefined, 10_000],
    ['800 ms answers', { kind: 'delay', ms: 800 }, 10_000],
    ['hanging answers, 1.5 s client deadline', { kind: 'hang' }, 1500],
  ];
  log(`poll period, ${SIZES.pollIntervals} intervals, 3 conditions x 2 sides at once`);
  const polls = await Promise.all(
    faults.map(([, fault, deadlineMs]) =>
      both(
        (s) =>
          withSide(s, { deadlineMs, longWindow: true }, (side) =>
            pollPeriod(side, fault, SIZES.pollIntervals),
          ),
        true,
      ),
    ),
  );
  faults.forEach(([label], i) => {
    const p = polls[i];
    if (!p) return;
    results.push({
      title: `e2e poll period, ${label}`,
      figures: [
        compared('mean period', p.ours.mean, p.baseline.mean, 'ms'),
        compared('max deviation from 1 s', p.ours.maxDeviation, p.baseline.maxDeviation, 'ms'),
        compared('max gap', p.ours.maxGap, p.baseline.maxGap, 'ms'),
        compared('overlapping calls', p.ours.overlaps, p.baseline.overlaps, 'count'),
        compared('max calls in flight', p.ours.maxInFlight, p.baseline.maxInFlight, 'count'),
      ],
      note: `${SIZES.pollIntervals} intervals of one open invoice; the simulator's record of call arrival and end`,
    });
  });

  log(`process start x${String(SIZES.starts)} each, one at a time`);
  const starts = await both((s) => startTimes(s, SIZES.starts), false);
  results.push({
    title: 'e2e process start',
    figures: [
      compared('-> READY p50', p50(starts.ours.ready), p50(starts.baseline.ready), 'ms'),
      compared('-> READY max', max(starts.ours.ready), max(starts.baseline.ready), 'ms'),
      compared('-> first frame p50', p50(starts.ours.frame), p50(starts.baseline.frame), 'ms'),
      compared('-> first frame max', max(starts.ours.frame), max(starts.baseline.frame), 'ms'),
    ],
    note: `${String(SIZES.starts)} starts each: spawn -> stdout "msg":"ready" (ours: node dist/daemon/main.js --config, after READY=1) and -> first write to the framebuffer file (inotify)`,
  });

  log(
    `idle ${String(SIZES.idleMs)} ms, meanwhile RSS over ${String(SIZES.rssPurchases)} purchases`,
  );
  const [idle, rss] = await Promise.all([
    both((s) => idleFigures(s, SIZES.idleMs), true),
    both((s) => worker(['rss', s, String(SIZES.rssPurchases)]), true),
  ]);
  results.push({
    title: 'e2e resources',
    figures: [
      compared(`idle CPU over ${SIZES.idleMs / 1000} s`, idle.ours.cpu, idle.baseline.cpu, '%'),
      compared('idle process RSS', idle.ours.rss, idle.baseline.rss, 'MiB'),
      compared(
        'RSS before purchases',
        n(rss.ours['rssBefore']),
        n(rss.baseline['rssBefore']),
        'MiB',
      ),
      compared(
        `RSS after ${SIZES.rssPurchases} purchases`,
        n(rss.ours['rssAfter']),
        n(rss.baseline['rssAfter']),
        'MiB',
      ),
      compared(
        'V8 heap used before purchases',
        n(rss.ours['heapBefore']),
        n(rss.baseline['heapBefore']),
        'MiB',
      ),
      compared(
        `V8 heap used after ${String(SIZES.rssPurchases)} purchases`,
        n(rss.ours['heapAfter']),
        n(rss.baseline['heapAfter']),
        'MiB',
      ),
    ],
    note: "idle: the terminal process alone, CPU from /proc (10 ms ticks: 0.00 % = under 0.02 %); before/after purchases: one process holding the terminal and the simulator (fast clock, paid purchases), after a forced GC; the simulator keeps a record of every call and invoice, and ours' demo printer keeps every receipt",
  });

  log(`soak ${SIZES.soak} purchases each, one after the other`);
  const soak = await both((s) => worker(['soak', s, String(SIZES.soak), '20261129']), false);
  const v = (side: SideName, k: keyof Violations): number =>
    n((soak[side]['violations'] as Record<string, unknown>)[k]);
  const total = (side: SideName): number => totalViolations(soak[side]['violations'] as Violations);
  const figures: Figure[] = [
    compared(
      'purchases per second of wall time',
      n(soak.ours['perSecond']),
      n(soak.baseline['perSecond']),
      'per s',
    ),
    compared('invariant violations', total('ours'), total('baseline'), 'count'),
    compared(
      '  dispense without PAID',
      v('ours', 'dispenseWithoutPaid'),
      v('baseline', 'dispenseWithoutPaid'),
      'count',
    ),
    compared(
      '  dispensed twice',
      v('ours', 'dispensedTwice'),
      v('baseline', 'dispensedTwice'),
      'count',
    ),
    compared(
      '  PAID neither dispensed nor refunded',
      v('ours', 'paidNeitherDispensedNorRefunded'),
      v('baseline', 'paidNeitherDispensedNorRefunded'),
      'count',
    ),
    compared(
      '  refunded twice',
      v('ours', 'refundedTwice'),
      v('baseline', 'refundedTwice'),
      'count',
    ),
    compared('payments committed (sales)', n(soak.ours['sold']), n(soak.baseline['sold']), 'count'),
    compared(
      'payments reversed by SEQR (paid, no sale)',
      n(soak.ours['reversed']),
      n(soak.baseline['reversed']),
      'count',
    ),
  ];
  results.push({
    title: `e2e fast-clock soak, ${SIZES.soak} purchases`,
    figures,
    note: `same seeded customer mix for both: ${JSON.stringify(soak.ours['counts'])}; ManualClock shared by terminal and simulator, real SOAP over loopback, framebuffer file, SQLite ledger (ours)`,
  });
  return results;
};

export default bench;
