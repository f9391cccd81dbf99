import { spawn } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { followLogs, formatLogLine } from '../../daemon/service/logs.js';

describe('formatLogLine', () => {
  it('shows time, level, component, message and the other fields', () => {
    const line = JSON.stringify({
      level: 40,
      time: Date.UTC(2026, 0, 2, 3, 4, 5, 6),
      component: 'printer',
      msg: 'paper low',
      slot: 3,
      detail: { a: 1 },
    });
    expect(formatLogLine(line)).toBe(
      '03:04:05.006 WARN  [printer] paper low slot=3 detail={"a":1}',
    );
  });

  it('puts an error stack and code on the following lines', () => {
    const line = JSON.stringify({
      level: 50,
      time: 0,
      msg: 'call failed',
      err: { stack: 'VendError: boom\n    at x', code: 'E_SEQR_TIMEOUT' },
    });
    expect(formatLogLine(line)).toBe(
      '00:00:00.000 ERROR call failed\n    VendError: boom\n        at x (E_SEQR_TIMEOUT)',
    );
  });

  it('passes non-JSON lines through, without a priority prefix', () => {
    expect(formatLogLine('<6>Started seqr-vend.service')).toBe('Started seqr-vend.service');
    expect(formatLogLine('[1,2]')).toBe('[1,2]');
  });
});

describe('followLogs', () => {
  it('runs journalctl for the unit and prints every line formatted, then its exit status', async () => {
    const calls: { command: string; args: readonly string[] }[] = [];
    const out = new PassThrough();
    let printed = '';
    out.on('data', (chunk: Buffer) => (printed += chunk.toString()));
    const lines = [JSON.stringify({ level: 30, time: 0, msg: 'ready' }), 'plain journal line'].join(
      '\n',
    );
    const code = await followLogs({
      out,
      lines: 10,
      spawn: (command, args, options) => {
        calls.push({ command, args });
        return spawn('sh', ['-c', `printf '%s\\n' '${lines}'; exit 3`], options);
      },
    });
    expect(calls).toEqual([
      { command: 'journalctl', args: ['-u', 'seqr-vend', '-o', 'cat', '-n', '10', '-f'] },
    ]);
    expect(printed).toBe('00:00:00.000 INFO  ready\nplain journal line\n');
    expect(code).toBe(3);
  });

  it('resolves 127 with a message when journalctl is missing', async () => {
    const out = new PassThrough();
    let printed = '';
    out.on('data', (chunk: Buffer) => (printed += chunk.toString()));
    const code = await followLogs({
      out,
      follow: false,
      spawn: (_command, args, options) => spawn('/nonexistent/journalctl', args, options),
    });
    expect(code).toBe(127);
    expect(printed).toMatch(/cannot run journalctl \(ENOENT\)/);
  });
});
