import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../../daemon/runtime/manual-clock.js';
import {
  createNotifier,
  systemdNotifySend,
  watchdogInterval,
} from '../../daemon/service/sd-notify.js';
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
  it('logs a missing systemd-notify once and resolves', async () => {
    const warn = vi.fn();
    const notifier = createNotifier({
      env: { NOTIFY_SOCKET: '/nonexistent/notify' },
      send: systemdNotifySend('/nonexistent/notify', '/nonexistent/systemd-notify'),
      log: { warn } as never,
    });
    await notifier.ready('up');
    await notifier.watchdog();
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0]![1]).toBe('service manager notification failed');
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
