/**
 * sd_notify(3) for the daemon: `READY=1`, `STATUS=...`, `WATCHDOG=1`, `STOPPING=1` to the socket
 * systemd names in `$NOTIFY_SOCKET`.
 *
 * Node core cannot send on an AF_UNIX datagram socket, and the project takes no native addon for
 * it, so each message is sent by the `systemd-notify` tool (shipped with systemd, so present
 * wherever `$NOTIFY_SOCKET` is). Two pitfalls shape this module and the unit:
 * - The message comes from the tool's PID, not the daemon's, so the unit needs
 *   `NotifyAccess=all` (`main` would drop it).
 * - PID 1 attributes a message to a unit by the sender's cgroup; a sender that exits before PID 1
 *   reads the message is lost (systemd#2737). systemd >= 246's `systemd-notify` waits for PID 1
 *   to process the message (a `BARRIER=1` round trip) before exiting, so the tool is not called
 *   with `--no-block`.
 *
 * Without `$NOTIFY_SOCKET` (not under systemd, `Type=simple`) every method is a no-op. A missing
 * or failing tool is logged once and never fails the daemon: at worst systemd times the start
 * out, or the watchdog restarts the service, which is what it is for.
 */
import { execFile } from 'node:child_process';
import type { Logger } from 'pino';
import { systemClock, type Clock, type TimerHandle } from '../ports/clock.js';

/** Sends one notification (newline-joined `KEY=VALUE` assignments). Rejects on failure. */
export type NotifySend = (assignments: readonly string[]) => Promise<void>;

export interface NotifierOptions {
  /** Default `process.env`: reads NOTIFY_SOCKET, WATCHDOG_USEC, WATCHDOG_PID. */
  readonly env?: NodeJS.ProcessEnv;
  /** Default: {@link systemdNotifySend} on `$NOTIFY_SOCKET`. */
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

/** Sends through the `systemd-notify` tool to `socket` (which it reads from NOTIFY_SOCKET). */
export function systemdNotifySend(
  socket: string,
  command = 'systemd-notify',
  timeoutMs = 10_000,
): NotifySend {
  return (assignments) =>
    new Promise((resolve, reject) => {
      execFile(
        command,
        [...assignments],
        {
          env: { NOTIFY_SOCKET: socket, PATH: process.env['PATH'] ?? '/usr/bin:/bin' },
          timeout: timeoutMs,
        },
        (err) => {
          if (err) reject(err instanceof Error ? err : new Error(err.message));
          else resolve();
        },
      );
    });
}

/** The notifier for this process's environment. */
export function createNotifier(options: NotifierOptions = {}): Notifier {
  const env = options.env ?? process.env;
  const socket = env['NOTIFY_SOCKET'];
  const enabled = socket !== undefined && socket !== '';
  const send = options.send ?? (enabled ? systemdNotifySend(socket) : undefined);
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
