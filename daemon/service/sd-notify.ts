/**
 * sd_notify(3) for the daemon: `READY=1`, `STATUS=...`, `WATCHDOG=1`, `STOPPING=1` to the socket
 * systemd names in `$NOTIFY_SOCKET`.
 *
 * Each notification is one datagram sent from this process (`unix-dgram`: socket, sendmsg,
 * close; Node core cannot send on an AF_UNIX datagram socket), so the unit can use
 * `NotifyAccess=main`, and the watchdog ping costs three system calls instead of forking
 * `systemd-notify` (about 20 ms of CPU each time). The sender is the main PID, alive while PID 1
 * reads the message, so nothing is lost to the race systemd-notify has (systemd#2737).
 *
 * `$NOTIFY_SOCKET` is a path (`/run/systemd/notify`, what systemd gives services) or an abstract
 * name (`@...`, older systemd and some other supervisors). unix-dgram 2.0.7 copies the address
 * with strncpy and passes the whole sockaddr length, so it cannot reach an abstract name: that case
 * is reported once as a warning, as is any other failure. Without `$NOTIFY_SOCKET` (not under
 * systemd, `Type=simple`) every method is a no-op. A failure never fails the daemon: at worst
 * systemd times the start out, or the watchdog restarts the service, which is what it is for.
 */
import { createRequire } from 'node:module';
import { getSystemErrorName } from 'node:util';
import type { Logger } from 'pino';
import { systemClock, type Clock, type TimerHandle } from '../ports/clock.js';

/** Sends one notification (newline-joined `KEY=VALUE` assignments). Rejects on failure. */
export type NotifySend = (assignments: readonly string[]) => Promise<void>;

export interface NotifierOptions {
  /** Default `process.env`: reads NOTIFY_SOCKET, WATCHDOG_USEC, WATCHDOG_PID. */
  readonly env?: NodeJS.ProcessEnv;
  /** Default: {@link datagramSend} to `$NOTIFY_SOCKET`. */
  readonly send?: NotifySend;
  /** Where a failed notification is reported (once per kind of failure). */
  readonly log?: Pick<Logger, 'warn'>;
  /** The pid that owns the watchdog. Default `process.pid`. */
  readonly pid?: number;
}

/**
 * The daemon's line to its service manager. Methods never reject; notifications are sent in call
 * order, one at a time.
 */
export interface Notifier {
  /** Whether `$NOTIFY_SOCKET` is set (otherwise every method does nothing). */
  readonly enabled: boolean;
  /**
   * The ping period, `WATCHDOG_USEC / 2` in ms, when systemd enabled the watchdog for this
   * process (`WatchdogSec=`, and `WATCHDOG_PID` unset or ours); otherwise undefined.
   */
  readonly watchdogIntervalMs: number | undefined;
  /** `READY=1` (with a status line): start-up is complete. Send once, after hardware discovery. */
  ready(status?: string): Promise<void>;
  /** `STATUS=<text>`, shown by `systemctl status`. Newlines are replaced by spaces. */
  status(text: string): Promise<void>;
  /** `WATCHDOG=1`. Skipped while a previous ping is still being delivered. */
  watchdog(): Promise<void>;
  /** `STOPPING=1` (with a status line): shutdown has begun. */
  stopping(status?: string): Promise<void>;
  /**
   * Pings the watchdog every {@link watchdogIntervalMs}, but only when `isHealthy()` resolves
   * true: a daemon whose event loop or mailbox is wedged stops pinging and systemd restarts it.
   * Each tick is scheduled from the previous one through `clock`, so ticks never overlap.
   * Returns the function that stops the pings. A no-op without a watchdog.
   */
  startWatchdog(isHealthy: () => boolean | Promise<boolean>, clock?: Clock): () => void;
}

/** What this module uses of `unix-dgram` (CommonJS, no bundled types). */
interface UnixDgram {
  createSocket(type: 'unix_dgram'): {
    send(
      buf: Buffer,
      offset: number,
      length: number,
      path: string,
      callback: (err?: Error & { code?: number | string }) => void,
    ): void;
    close(): void;
  };
}

let unixDgram: UnixDgram | undefined;

/**
 * Sends each notification as one datagram to `socket` (a path; see the module comment for `@`
 * names), from this process. Loads the native `unix-dgram` on first use.
 */
export function datagramSend(socket: string): NotifySend {
  return (assignments) =>
    new Promise((resolve, reject) => {
      if (socket.startsWith('@')) {
        reject(
          Object.assign(
            new Error(
              `NOTIFY_SOCKET ${socket} is an abstract socket, which unix-dgram cannot address; ` +
                'systemd gives services a path (/run/systemd/notify)',
            ),
            { code: 'EABSTRACT' },
          ),
        );
        return;
      }
      let sock: ReturnType<UnixDgram['createSocket']>;
      try {
        unixDgram ??= createRequire(import.meta.url)('unix-dgram') as UnixDgram;
        sock = unixDgram.createSocket('unix_dgram');
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
        return;
      }
      const message = Buffer.from(assignments.join('\n'), 'utf8');
      // unix-dgram calls back synchronously; the socket lives for this one datagram.
      sock.send(message, 0, message.length, socket, (err) => {
        sock.close();
        if (!err) {
          resolve();
          return;
        }
        // unix-dgram reports a negative errno as the code, and 1 when the receiver's queue is full.
        if (typeof err.code === 'number')
          err.code = err.code < 0 ? getSystemErrorName(err.code) : 'EAGAIN';
        reject(err);
      });
    });
}

/** The notifier for this process's environment. */
export function createNotifier(options: NotifierOptions = {}): Notifier {
  const env = options.env ?? process.env;
  const socket = env['NOTIFY_SOCKET'];
  const enabled = socket !== undefined && socket !== '';
  const send = options.send ?? (enabled ? datagramSend(socket) : undefined);
  const watchdogIntervalMs = enabled
    ? watchdogInterval(env, options.pid ?? process.pid)
    : undefined;
  const warned = new Set<string>();
  let queue: Promise<void> = Promise.resolve();
  let pinging = false;

  const notify = (assignments: readonly string[]): Promise<void> => {
    if (!enabled || !send) return Promise.resolve();
    queue = queue.then(async () => {
      try {
        await send(assignments);
      } catch (err) {
        const key = (err as NodeJS.ErrnoException).code ?? 'failed';
        if (!warned.has(key)) {
          warned.add(key);
          options.log?.warn(
            { err, notification: assignments.map((a) => a.split('=')[0]).join(',') },
            'service manager notification failed',
          );
        }
      }
    });
    return queue;
  };
  const statusLine = (text: string) => `STATUS=${text.replace(/[\r\n]+/g, ' ')}`;

  const watchdog = async (): Promise<void> => {
    if (pinging) return;
    pinging = true;
    try {
      await notify(['WATCHDOG=1']);
    } finally {
      pinging = false;
    }
  };

  const startWatchdog = (
    isHealthy: () => boolean | Promise<boolean>,
    clock: Clock = systemClock,
  ): (() => void) => {
    const period = watchdogIntervalMs;
    if (period === undefined) return () => undefined;
    const state: { stopped: boolean; handle?: TimerHandle } = { stopped: false };
    const isStopped = () => state.stopped;
    const tick = async () => {
      let healthy: boolean;
      try {
        healthy = await isHealthy();
      } catch {
        healthy = false;
      }
      if (state.stopped) return;
      if (healthy) await watchdog();
      // stop() may have been called while the ping was in flight.
      if (!isStopped()) state.handle = clock.setTimeout(() => void tick(), period);
    };
    state.handle = clock.setTimeout(() => void tick(), period);
    return () => {
      state.stopped = true;
      if (state.handle !== undefined) clock.clearTimeout(state.handle);
    };
  };

  return {
    enabled,
    watchdogIntervalMs,
    ready: (status) => notify(status === undefined ? ['READY=1'] : ['READY=1', statusLine(status)]),
    status: (text) => notify([statusLine(text)]),
    watchdog,
    stopping: (status) =>
      notify(status === undefined ? ['STOPPING=1'] : ['STOPPING=1', statusLine(status)]),
    startWatchdog,
  };
}

/** `WATCHDOG_USEC / 2` in ms when the watchdog is meant for `pid`, else undefined (sd_watchdog_enabled). */
export function watchdogInterval(env: NodeJS.ProcessEnv, pid: number): number | undefined {
  const usec = Number(env['WATCHDOG_USEC']);
  if (!Number.isSafeInteger(usec) || usec <= 0) return undefined;
  const owner = env['WATCHDOG_PID'];
  if (owner !== undefined && owner !== '' && Number(owner) !== pid) return undefined;
  return Math.max(1, Math.floor(usec / 2_000));
}
