/** The daemon towards systemd and the operator: the control socket and sd_notify. */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../../config/schema.js';
import type { Clock } from '../ports/clock.js';
import type { Runtime } from '../runtime/runtime.js';
import { startControlServer } from '../service/control-socket.js';
import type { Notifier } from '../service/sd-notify.js';
import { statusLine, type StatusSnapshot } from './status.js';
import type { StopOrder } from './stop-order.js';

export interface ServiceDeps {
  readonly clock: Clock;
  readonly notifier: Notifier;
  readonly runtime: Runtime;
  readonly status: () => Promise<StatusSnapshot>;
  readonly stopOrder: StopOrder;
}

export interface Service {
  /** READY=1 with the current status line; resolves with that line. */
  ready(): Promise<string>;
  /** STOPPING=1; the watchdog stops pinging from here. */
  stopping(): Promise<void>;
}

/**
 * Serves `seqr-vend status` on the control socket, keeps systemd's STATUS= line on the runtime's
 * state, and pings the watchdog until {@link Service.stopping}. Everything is registered with the
 * stop order.
 */
export async function startService(config: Config, deps: ServiceDeps): Promise<Service> {
  const { clock, notifier, runtime, status, stopOrder } = deps;
  mkdirSync(path.dirname(config.control.socketPath), { recursive: true });
  const control = await startControlServer({ path: config.control.socketPath, status });
  stopOrder.add(() => control.close());

  let lastStatus = '';
  const unsubscribe = runtime.onTransition(({ to }) => {
    const line = statusLine(to);
    if (line === lastStatus) return;
    lastStatus = line;
    void notifier.status(line);
  });
  stopOrder.add(unsubscribe);
  let stopping = false;
  stopOrder.add(notifier.startWatchdog(() => !stopping, clock));
  return {
    async ready() {
      lastStatus = statusLine(runtime.state());
      await notifier.ready(lastStatus);
      return lastStatus;
    },
    async stopping() {
      stopping = true;
      await notifier.stopping('stopping');
    },
  };
}
