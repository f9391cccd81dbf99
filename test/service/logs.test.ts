import { spawn } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { followLogs, formatLogLine, parsePriority } from '../../daemon/service/logs.js';

// Times are shown in local time: these tests fix the zone (Node follows TZ as it changes).
const zone = process.env['TZ'];
beforeAll(() => {
  process.env['TZ'] = 'UTC';
});
afterAll(() => {
  if (zone === undefined) delete process.env['TZ'];
  else process.env['TZ'] = zone;
});

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

  it('shows local time, with the date when asked', () => {
    const line = JSON.stringify({ level: 30, time: Date.UTC(2026, 0, 2, 23, 40, 5, 6), msg: 'x' });
    process.env['TZ'] = 'Asia/Kolkata'; // UTC+05:30: the next day
    try {
      expect(formatLogLine(line)).toBe('05:10:05.006 INFO  x');
      expect(formatLogLine(line, { date: true })).toBe('2026-01-03 05:10:05.006 INFO  x');
    } finally {
      process.env['TZ'] = 'UTC';
    }
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
    expect(printed).toBe('1970-01-01 00:00:00.000 INFO  ready\nplain journal line\n');
    expect(code).toBe(3);
  });

  it('passes a priority filter to journalctl', async () => {
    const calls: (readonly string[])[] = [];
    await followLogs({
      out: new PassThrough(),
      follow: false,
      priority: 'warning',
      spawn: (_command, args, options) => {
        calls.push(args);
        return spawn('true', [], options);
      },
    });
    expect(calls).toEqual([['-u', 'seqr-vend', '-o', 'cat', '-n', '50', '-p', 'warning']]);
  });

  it("takes journalctl's priority names, numbers and ranges, and the daemon's level names", () => {
    expect(parsePriority('warning')).toBe('warning');
    expect(parsePriority('4')).toBe('4');
    expect(parsePriority('ERR')).toBe('err');
    expect(parsePriority('err..warning')).toBe('err..warning');
    expect(parsePriority('0..3')).toBe('0..3');
    expect(parsePriority('warn')).toBe('warning');
    expect(parsePriority('error')).toBe('err');
    expect(parsePriority('fatal')).toBe('crit');
    for (const bad of ['8', 'loud', '', 'err..', '1..2..3', '-1', 'warning;rm'])
      expect(parsePriority(bad), bad).toBeUndefined();
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
