// `seqr-vend run` as a person or systemd starts it: what comes first on a terminal, and a stop
// that arrives before the daemon has finished starting.
import { EventEmitter } from 'node:events';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '../../daemon/cli/cli.js';
import type { SignalTarget } from '../../daemon/runtime/signals.js';
import { DEMO_CONFIG_INPUT } from '../../config/demo.js';

let dir: string;
let config: string;

class Signals extends EventEmitter implements SignalTarget {
  exitCode: number | string | null | undefined;
}

function collector(tty: boolean): { isTTY: boolean; lines: string[]; write(t: string): void } {
  return {
    isTTY: tty,
    lines: [],
    write(text: string) {
      this.lines.push(text);
    },
  };
}

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'seqr-run-'));
  config = path.join(dir, 'config.yaml');
  writeFileSync(
    config,
    JSON.stringify({
      ...DEMO_CONFIG_INPUT,
      stateDirectory: path.join(dir, 'state'),
      control: { socketPath: path.join(dir, 'control.sock') },
      kiosk: { enabled: true, port: 0 },
    }),
  );
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('seqr-vend run', () => {
  it('prints the kiosk address as the first line on a terminal, the held start-up log after it', async () => {
    const stdout = collector(true);
    const signals = new Signals();
    const done = runCli(['--config', config], {
      stdout,
      stderr: collector(false),
      env: {},
      signals,
      onStarted: () => {
        signals.emit('SIGTERM');
      },
    });
    expect(await done).toBe(0);
    expect(stdout.lines[0]).toMatch(
      /^Virtual kiosk: http:\/\/127\.0\.0\.1:\d+\/ {2}\(Ctrl-C stops\)\n\n$/,
    );
    const rest = stdout.lines.slice(1).join('');
    expect(rest).toContain('ready');
    expect(rest).toContain('stopped');
  });

  it('stops cleanly on a SIGTERM that arrives while it is still starting', async () => {
    const signals = new Signals();
    const stdout = collector(false);
    const done = runCli(['--config', config], {
      stdout,
      stderr: collector(false),
      env: {},
      signals,
    });
    // Before startApp resolved: with no handler yet, this stop would be lost (systemd would have
    // to kill the daemon after TimeoutStopSec=).
    signals.emit('SIGTERM');
    expect(await done).toBe(0);
    expect(signals.exitCode).toBe(0);
    // The control socket is removed by the orderly stop.
    expect(existsSync(path.join(dir, 'control.sock'))).toBe(false);
  });
});
