// Service plumbing costs: config load at start, log line cost, control-socket round trip, and
// what one sd_notify message (the idle watchdog ping) costs: a datagram from this process.
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../config/load.js';
import { createLogger, SecretSet } from '../daemon/log.js';
import { requestControl, startControlServer } from '../daemon/service/control-socket.js';
import { datagramSend } from '../daemon/service/sd-notify.js';
import { latencyFigures, type Bench, type Figure } from './lib.js';

const here = path.dirname(fileURLToPath(import.meta.url));

async function timed(runs: number, fn: () => unknown): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await fn();
    samples.push(performance.now() - start);
  }
  return samples;
}

const bench: Bench = async () => {
  const example = path.resolve(here, '../../config/example.config.yaml');
  const configMs = await timed(200, () => loadConfig(example, {}));

  const secrets = new SecretSet();
  secrets.add('bench-terminal-password');
  let bytes = 0;
  const log = createLogger({
    level: 'info',
    journald: true,
    secrets,
    destination: { write: (s: string) => (bytes += s.length) },
  }).child({ component: 'runtime' });
  const lines = 20_000;
  const logStart = performance.now();
  for (let i = 0; i < lines; i++)
    log.info({ from: 'idle', event: 'button.pressed', to: 'invoicing', slot: i % 4 }, 'transition');
  const logSeconds = (performance.now() - logStart) / 1000;

  const dir = mkdtempSync(path.join(os.tmpdir(), 'seqr-bench-'));
  const socketPath = path.join(dir, 'control.sock');
  const server = await startControlServer({
    path: socketPath,
    status: () => ({ state: 'idle', products: 4 }),
  });
  const controlMs = await timed(200, () => requestControl(socketPath));
  await server.close();

  // A notify socket bound with unix-dgram itself; each WATCHDOG=1 is one datagram to it.
  const notifyPath = path.join(dir, 'notify.sock');
  const unixDgram = createRequire(import.meta.url)('unix-dgram') as {
    createSocket(
      type: 'unix_dgram',
      onMessage: () => void,
    ): {
      bind(path: string): void;
      close(): void;
    };
  };
  let received = 0;
  const receiver = unixDgram.createSocket('unix_dgram', () => received++);
  receiver.bind(notifyPath);
  const send = datagramSend(notifyPath);
  const pings = 2_000;
  const notifyMs: number[] = [];
  let cpuMicros = 0;
  for (let i = 0; i < pings; i++) {
    const cpuBefore = process.cpuUsage();
    const start = performance.now();
    await send(['WATCHDOG=1']);
    notifyMs.push(performance.now() - start);
    const cpu = process.cpuUsage(cpuBefore);
    cpuMicros += cpu.user + cpu.system;
    // Let the receiver (same event loop) drain its queue, as PID 1 does.
    await new Promise((r) => setImmediate(r));
  }
  await new Promise((r) => setTimeout(r, 50));
  receiver.close();
  rmSync(dir, { recursive: true, force: true });

  const figures: Figure[] = [
    ...latencyFigures('loadConfig(example)', configMs),
    { name: 'journald log lines', value: lines / logSeconds, unit: 'per s' },
    { name: 'bytes per log line', value: bytes / lines, unit: 'B' },
    ...latencyFigures('control socket status', controlMs),
    ...latencyFigures('sd_notify datagram', notifyMs),
    {
      name: 'sd_notify CPU per message',
      value: cpuMicros / 1000 / pings,
      unit: 'ms',
    },
    { name: 'sd_notify datagrams received', value: received, unit: `of ${String(pings)}` },
  ];
  return [
    {
      title: 'service',
      figures,
      note: 'sd_notify datagram = the cost of one READY/STATUS/WATCHDOG message (one per 15 s when idle): socket, sendmsg, close; no process',
    },
  ];
};

export default bench;
