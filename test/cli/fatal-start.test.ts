// A daemon that cannot start tells the operator the catalogue code and the message, on one line,
// in the journal (stdout) and on stderr; the stack only at debug level. Runs the built daemon as
// systemd would (npm run build first).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEMO_CONFIG_INPUT } from '../../config/demo.js';

const MAIN = path.resolve('dist/daemon/main.js');

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'seqr-fatal-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

interface Run {
  status: number | null;
  records: Record<string, unknown>[];
  stdout: string;
  stderr: string;
}

function runDaemon(overrides: Record<string, unknown>): Run {
  const file = path.join(dir, 'config.yaml');
  writeFileSync(
    file,
    JSON.stringify({
      ...DEMO_CONFIG_INPUT,
      stateDirectory: path.join(dir, 'state'),
      control: { socketPath: path.join(dir, 'control.sock') },
      kiosk: { enabled: false },
      ...overrides,
    }),
  );
  const run = spawnSync(process.execPath, [MAIN, '--config', file], {
    env: { PATH: process.env['PATH'] ?? '' },
    encoding: 'utf8',
    timeout: 60_000,
  });
  const records = run.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { status: run.status, records, stdout: run.stdout, stderr: run.stderr };
}

const fatalOf = (run: Run) => run.records.filter((r) => r['level'] === 60);

describe.skipIf(!existsSync(MAIN))('a fatal start', () => {
  it('a catalogue error: code and message on one line, no stack, exit 78 for a configuration', () => {
    const run = runDaemon({
      seqr: { endpoint: 'http://127.0.0.1:9/soap', terminalId: 'abc' },
      credentialsDirectory: path.join(dir, 'credentials'),
    });
    expect(run.status).toBe(78);
    const message = `credential seqr-terminal-password: ${dir}/credentials/seqr-terminal-password does not exist`;
    const fatal = fatalOf(run);
    expect(fatal).toHaveLength(1);
    expect(fatal[0]?.['code']).toBe('E_CONFIG_INVALID');
    expect(String(fatal[0]?.['msg'])).toMatch(/^start-up failed: E_CONFIG_INVALID: credential /);
    expect(String(fatal[0]?.['msg'])).toContain(message);
    expect(run.stdout).not.toMatch(/"stack"|\n\s+at /);
    expect(run.stderr.startsWith(`seqr-vend run: E_CONFIG_INVALID: ${message}`)).toBe(true);
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });

  it('a system error (state directory under a file) is E_START_FAILED with the system message', () => {
    writeFileSync(path.join(dir, 'file'), '');
    const run = runDaemon({ stateDirectory: path.join(dir, 'file', 'state') });
    expect(run.status).toBe(1);
    expect(fatalOf(run)).toEqual([
      expect.objectContaining({
        code: 'E_START_FAILED',
        msg: `start-up failed: E_START_FAILED: ENOTDIR: not a directory, mkdir '${dir}/file/state'`,
      }),
    ]);
    expect(run.stdout).not.toContain('"stack"');
    expect(run.stderr).toContain('seqr-vend run: E_START_FAILED: ENOTDIR: not a directory');
  });

  it('at log level debug the stack follows, as a debug record', () => {
    const run = runDaemon({
      seqr: { endpoint: 'http://127.0.0.1:9/soap', terminalId: 'abc' },
      credentialsDirectory: path.join(dir, 'credentials'),
      log: { level: 'debug' },
    });
    expect(run.status).toBe(78);
    const detail = run.records.find((r) => r['msg'] === 'start-up failure in detail');
    expect(detail?.['level']).toBe(20);
    expect((detail?.['err'] as { stack?: string } | undefined)?.stack).toMatch(/\n\s+at /);
  });
});
