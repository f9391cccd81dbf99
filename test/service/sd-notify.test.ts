import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../../daemon/runtime/manual-clock.js';
import { createNotifier, datagramSend, watchdogInterval } from '../../daemon/service/sd-notify.js';
import { bindNotifySocket, notifySocketUnavailable, type NotifySocket } from './notify-socket.js';

describe('createNotifier without systemd', () => {
  it('does nothing when NOTIFY_SOCKET is unset', async () => {
    const send = vi.fn(() => Promise.resolve());
    const notifier = createNotifier({ env: {}, send });
    expect(notifier.enabled).toBe(false);
    expect(notifier.watchdogIntervalMs).toBeUndefined();
    await notifier.ready('up');
    await notifier.status('x');
    await notifier.watchdog();
    await notifier.stopping();
    const stop = notifier.startWatchdog(() => true);
    stop();
    expect(send).not.toHaveBeenCalled();
  });
});

describe('watchdog', () => {
  it('pings every WATCHDOG_USEC/2 while healthy, skips unhealthy ticks, and stops', async () => {
    const sent: string[][] = [];
    const notifier = createNotifier({
      env: { NOTIFY_SOCKET: '/run/systemd/notify', WATCHDOG_USEC: '30000000' },
      send: (a) => {
        sent.push([...a]);
        return Promise.resolve();
      },
    });
    expect(notifier.watchdogIntervalMs).toBe(15_000);
    const clock = new ManualClock();
    let healthy = true;
    const stop = notifier.startWatchdog(() => Promise.resolve(healthy), clock);
    await clock.advanceAsync(14_999);
    expect(sent).toEqual([]);
    await clock.advanceAsync(1);
    expect(sent).toEqual([['WATCHDOG=1']]);
    await clock.advanceAsync(30_000);
    expect(sent).toHaveLength(3);
    healthy = false;
    await clock.advanceAsync(45_000);
    expect(sent).toHaveLength(3);
    healthy = true;
    await clock.advanceAsync(15_000);
    expect(sent).toHaveLength(4);
    stop();
    expect(clock.pending).toBe(0);
    await clock.advanceAsync(60_000);
    expect(sent).toHaveLength(4);
  });

  it('treats a health check that throws as unhealthy', async () => {
    const send = vi.fn(() => Promise.resolve());
    const notifier = createNotifier({
      env: { NOTIFY_SOCKET: '/x', WATCHDOG_USEC: '2000000' },
      send,
    });
    const clock = new ManualClock();
    notifier.startWatchdog(() => {
      throw new Error('mailbox wedged');
    }, clock);
    await clock.advanceAsync(5_000);
    expect(send).not.toHaveBeenCalled();
  });

  it('is off without WATCHDOG_USEC or when WATCHDOG_PID names another process', () => {
    expect(watchdogInterval({}, 10)).toBeUndefined();
    expect(watchdogInterval({ WATCHDOG_USEC: '20000000', WATCHDOG_PID: '11' }, 10)).toBeUndefined();
    expect(watchdogInterval({ WATCHDOG_USEC: '20000000', WATCHDOG_PID: '10' }, 10)).toBe(10_000);
    expect(watchdogInterval({ WATCHDOG_USEC: 'x' }, 10)).toBeUndefined();
  });

  it('does not stack pings while one is still being delivered', async () => {
    let release: () => void = () => undefined;
    const send = vi.fn(
      () =>
        new Promise<void>((resolve) => {
          release = resolve;
        }),
    );
    const notifier = createNotifier({ env: { NOTIFY_SOCKET: '/x' }, send });
    const first = notifier.watchdog();
    await notifier.watchdog();
    await Promise.resolve();
    release();
    await first;
    expect(send).toHaveBeenCalledTimes(1);
  });
});

describe('failures never reach the daemon', () => {
  it('logs a notify socket that is not there once, with the system error, and resolves', async () => {
    const warn = vi.fn();
    const notifier = createNotifier({
      env: { NOTIFY_SOCKET: '/nonexistent/notify' },
      send: datagramSend('/nonexistent/notify'),
      log: { warn } as never,
    });
    await notifier.ready('up');
    await notifier.watchdog();
    await notifier.status('x');
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0]![1]).toBe('service manager notification failed');
    expect((warn.mock.calls[0]![0] as { err: { code: string } }).err.code).toBe('ENOENT');
  });
});

const unavailable = notifySocketUnavailable();
describe.skipIf(unavailable !== undefined)(
  `over a real notify socket${unavailable ? ` (skipped: ${unavailable})` : ''}`,
  () => {
    let dir: string;
    let socket: NotifySocket;
    beforeEach(async () => {
      dir = mkdtempSync(path.join(os.tmpdir(), 'seqr-notify-'));
      socket = await bindNotifySocket(path.join(dir, 'notify.sock'));
    });
    afterEach(async () => {
      await socket.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it('sends from this process: no systemd-notify is run, even when one is on PATH', async () => {
      // A systemd-notify that leaves a mark when anything runs it.
      const bin = path.join(dir, 'bin');
      mkdirSync(bin);
      const mark = path.join(dir, 'systemd-notify-ran');
      writeFileSync(path.join(bin, 'systemd-notify'), `#!/bin/sh\ntouch ${mark}\n`);
      chmodSync(path.join(bin, 'systemd-notify'), 0o755);
      const saved = process.env['PATH'];
      process.env['PATH'] = `${bin}:${saved ?? ''}`;
      try {
        const notifier = createNotifier({ env: { NOTIFY_SOCKET: socket.path } });
        for (let i = 0; i < 5; i++) await notifier.watchdog();
        await notifier.status('idle');
        await socket.waitFor(6);
      } finally {
        process.env['PATH'] = saved;
      }
      expect(socket.messages).toEqual([...Array<string>(5).fill('WATCHDOG=1'), 'STATUS=idle']);
      expect(existsSync(mark)).toBe(false);
    });

    it('pings the watchdog on its own at WATCHDOG_USEC/2 with the real clock', async () => {
      const notifier = createNotifier({
        env: { NOTIFY_SOCKET: socket.path, WATCHDOG_USEC: '100000' },
      });
      expect(notifier.watchdogIntervalMs).toBe(50);
      const stop = notifier.startWatchdog(() => true);
      try {
        await socket.waitFor(3);
      } finally {
        stop();
      }
      expect(socket.messages.slice(0, 3)).toEqual(['WATCHDOG=1', 'WATCHDOG=1', 'WATCHDOG=1']);
    });

    it('delivers READY, STATUS, WATCHDOG and STOPPING in call order', async () => {
      const notifier = createNotifier({ env: { NOTIFY_SOCKET: socket.path } });
      expect(notifier.enabled).toBe(true);
      const sends = [
        notifier.ready('idle, 4 products'),
        notifier.status('out of service:\nSEQR unreachable'),
        notifier.watchdog(),
        notifier.stopping('stopping'),
      ];
      await Promise.all(sends);
      await socket.waitFor(4);
      expect(socket.messages).toEqual([
        'READY=1\nSTATUS=idle, 4 products',
        'STATUS=out of service: SEQR unreachable',
        'WATCHDOG=1',
        'STOPPING=1\nSTATUS=stopping',
      ]);
    });
  },
);

describe.skipIf(unavailable !== undefined)('an abstract notify socket (@...)', () => {
  it('cannot be reached through unix-dgram: said once as a warning, never a crash', async () => {
    const name = `@seqr-vend-test-${String(process.pid)}`;
    const socket = await bindNotifySocket(name);
    try {
      const warn = vi.fn();
      const notifier = createNotifier({ env: { NOTIFY_SOCKET: name }, log: { warn } as never });
      await notifier.ready('idle');
      await notifier.watchdog();
      expect(warn).toHaveBeenCalledTimes(1);
      expect((warn.mock.calls[0]![0] as { err: Error }).err.message).toBe(
        `NOTIFY_SOCKET ${name} is an abstract socket, which unix-dgram cannot address; systemd gives services a path (/run/systemd/notify)`,
      );
      await new Promise((r) => setTimeout(r, 200));
      expect(socket.messages).toEqual([]);
    } finally {
      await socket.close();
    }
  });
});
