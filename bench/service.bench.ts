// Service plumbing costs: config load at start, log line cost, control-socket round trip, and
// the process spawn each sd_notify message costs (systemd-notify, no native addon).
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../config/load.js';
import { createLogger, SecretSet } from '../daemon/log.js';
import { requestControl, startControlServer } from '../daemon/service/control-socket.js';
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
  rmSync(dir, { recursive: true, force: true });

  const figures: Figure[] = [
    ...latencyFigures('loadConfig(example)', configMs),
    { name: 'journald log lines', value: lines / logSeconds, unit: 'per s' },
    { name: 'bytes per log line', value: bytes / lines, unit: 'B' },
    ...latencyFigures('control socket status', controlMs),
  ];
  const spawnMs = await timed(20, () => {
    return new Promise<void>((resolve) => {
      execFile('systemd-notify', ['--version'], () => {
        resolve();
      });
    });
  });
  figures.push(...latencyFigures('systemd-notify spawn', spawnMs));
  return [
    {
      title: 'service',
      figures,
      note: 'systemd-notify spawn = the cost of one READY/STATUS/WATCHDOG message (one per 15 s when idle)',
    },
  ];
};

export default bench;
