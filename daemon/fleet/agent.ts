/**
 * The machine side of the fleet: over one {@link MqttLink} it keeps the availability, the live
 * state and the alerts retained on the broker, streams the ledger's sales outbox (QoS 1, in
 * order, deleted only after PUBACK), serves the operator commands and, optionally, Home
 * Assistant discovery. It talks to the daemon only through the {@link FleetMachine} port.
 *
 * Bounded whatever the broker does: at most `salesWindow` sale events and one state document are
 * in flight; nothing else is queued while the broker is away (the outbox waits on disk), and the
 * link reconnects with a backoff of up to a minute.
 */
import { errorCodeOf, VendError } from '../errors.js';
import { parseDecimal } from '../ports/money.js';
import type { Clock, TimerHandle } from '../ports/clock.js';
import {
  alertConditions,
  COMMAND_SCHEMAS,
  encodeAlertChange,
  encodeAlerts,
  encodeSale,
  encodeState,
  type Alert,
  type AlertKind,
} from './codec.js';
import { discoveryMessages, haStatusTopic, type DiscoveryDevice } from './discovery.js';
import type { FleetLog, LinkStatus, MqttLink } from './link.js';
import type { FleetMachine, MachineSnapshot } from './port.js';
import { RequestRouter } from './requests.js';
import { machineTopics, type MachineTopics } from './topics.js';

export interface FleetAgentOptions {
  readonly machineId: string;
  readonly prefix: string;
  readonly machine: FleetMachine;
  readonly link: MqttLink;
  readonly clock: Clock;
  readonly log: FleetLog;
  /** Live state at most this often (and checked this often). Default 5 s. */
  readonly statePeriodMs?: number;
  /** Out of service longer than this raises `outOfService`. Default 5 min. */
  readonly outOfServiceAlertMs?: number;
  /** Sale events in flight at once. Default 32. */
  readonly salesWindow?: number;
  /** Retry delay after the broker refused a sale event. Default 30 s. */
  readonly refusedRetryMs?: number;
  readonly homeAssistant?: {
    readonly discoveryPrefix: string;
    readonly device: Omit<DiscoveryDevice, 'machineId'>;
  };
}

/** What `seqr-vend status` shows about the fleet link. */
export interface FleetStatus {
  readonly machineId: string;
  readonly broker: LinkStatus;
  readonly outbox: { readonly pending: number; readonly oldestAt: string | null };
  readonly alerts: readonly AlertKind[];
  /** Set while something needs the operator's eye. */
  readonly warning: string | null;
}

export class FleetAgent {
  readonly topics: MachineTopics;
  /** Where request handlers are registered; other consumers of commands add theirs here. */
  readonly requests: RequestRouter;
  readonly #o: FleetAgentOptions;
  readonly #period: number;
  readonly #window: number;
  readonly #offs: (() => void)[] = [];
  // Sales.
  readonly #inFlight = new Set<number>();
  #lastSent = 0;
  #acks: number[] = [];
  #ackScheduled = false;
  #refusedUntil = 0;
  #retryTimer: TimerHandle | undefined;
  // State and alerts.
  #tick: TimerHandle | undefined;
  /** A change seen within the state period: published when the period is over. */
  #deferred: TimerHandle | undefined;
  #lastState: string | undefined;
  #lastPublishAt = 0;
  #refreshing: Promise<void> | undefined;
  #again = false;
  #outOfServiceSince: number | null = null;
  readonly #alerts = new Map<AlertKind, Alert>();
  #stopped = false;

  constructor(options: FleetAgentOptions) {
    this.#o = options;
    this.#period = options.statePeriodMs ?? 5_000;
    this.#window = options.salesWindow ?? 32;
    this.topics = machineTopics(options.prefix, options.machineId);
    this.requests = new RequestRouter(options.link, this.topics, options.log);
  }

  /** Registers the operator commands and starts publishing. Returns at once. */
  start(): void {
    const { link, machine } = this.#o;
    this.#registerCommands();
    this.#offs.push(
      link.onConnect(() => {
        this.#onConnect();
      }),
      machine.onChange(() => {
        this.#changed();
      }),
      machine.onSale(() => {
        this.#pump();
      }),
    );
    const ha = this.#o.homeAssistant;
    if (ha)
      link.subscribe(haStatusTopic(ha.discoveryPrefix), (m) => {
        if (m.payload.toString() === 'online') this.#publishDiscovery();
      });
    this.#scheduleTick();
    void this.#refresh();
  }

  status(): FleetStatus {
    const broker = this.#o.link.status();
    const backlog = this.#o.machine.outbox.backlog();
    let warning: string | null = null;
    if (!broker.connected && broker.lastError)
      warning = `${broker.lastError.code}: ${broker.lastError.message}; ${backlog.pending} sale event(s) waiting in the ledger`;
    else if (!broker.connected) warning = 'not connected to the fleet broker yet';
    return {
      machineId: this.#o.machineId,
      broker,
      outbox: {
        pending: backlog.pending,
        oldestAt: backlog.oldestAt === null ? null : new Date(backlog.oldestAt).toISOString(),
      },
      alerts: [...this.#alerts.keys()],
      warning,
    };
  }

  /** Stops publishing, says `offline` (retained), disconnects. Idempotent. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    const { clock, link } = this.#o;
    for (const off of this.#offs.splice(0)) off();
    if (this.#tick !== undefined) clock.clearTimeout(this.#tick);
    if (this.#retryTimer !== undefined) clock.clearTimeout(this.#retryTimer);
    if (this.#deferred !== undefined) clock.clearTimeout(this.#deferred);
    this.requests.stop();
    await this.#refreshing?.catch(() => undefined);
    this.#flushAcks();
    await link.close({ topic: this.topics.availability, payload: 'offline' });
    this.#flushAcks();
  }

  #onConnect(): void {
    const { link } = this.#o;
    link.publishNow(this.topics.availability, 'online', { qos: 1, retain: true });
    this.#publishDiscovery();
    this.#lastState = undefined;
    link.publishNow(
      this.topics.alerts,
      encodeAlerts(this.#o.machineId, [...this.#alerts.values()], this.#o.clock.now()),
      { qos: 1, retain: true },
    );
    void this.#refresh();
    // What was in flight when the link dropped failed with it: sent again from the outbox, in order.
    this.#pump();
  }

  // -------------------------------------------------------------------------------------------
  // Sales
  // -------------------------------------------------------------------------------------------

  #pump(): void {
    const { link, machine, clock, log } = this.#o;
    if (this.#stopped || !link.connected || clock.now() < this.#refusedUntil) return;
    const room = this.#window - this.#inFlight.size;
    if (room <= 0) return;
    let batch;
    try {
      batch = machine.outbox.next(this.#lastSent, room);
    } catch (err) {
      log.error({ code: errorCodeOf(err), err }, 'fleet: reading the sales outbox failed');
      return;
    }
    for (const event of batch) {
      this.#lastSent = Math.max(this.#lastSent, event.seq);
      if (this.#inFlight.has(event.seq)) continue;
      this.#inFlight.add(event.seq);
      link.publish(this.topics.sales, encodeSale(this.#o.machineId, event), { qos: 1 }).then(
        () => {
          this.#inFlight.delete(event.seq);
          this.#acks.push(event.seq);
          this.#scheduleAcks();
          this.#pump();
        },
        (err: unknown) => {
          this.#inFlight.delete(event.seq);
          // Sent again from the outbox: from this event on, in order.
          this.#lastSent = Math.min(this.#lastSent, event.seq - 1);
          if (errorCodeOf(err) === 'E_FLEET_REFUSED') {
            const retryMs = this.#o.refusedRetryMs ?? 30_000;
            this.#refusedUntil = clock.now() + retryMs;
            log.warn(
              { code: 'E_FLEET_REFUSED', event: event.id, retryMs, err },
              'fleet broker refused a sale event (ACL?): it waits in the ledger',
            );
            if (this.#retryTimer === undefined)
              this.#retryTimer = clock.setTimeout(() => {
                this.#retryTimer = undefined;
                this.#pump();
              }, retryMs);
          }
          // Otherwise the link went down: the next connection pumps again.
        },
      );
    }
  }

  #scheduleAcks(): void {
    if (this.#ackScheduled) return;
    this.#ackScheduled = true;
    setImmediate(() => {
      this.#ackScheduled = false;
      this.#flushAcks();
    });
  }

  /** PUBACKed events leave the outbox, in one durable write per batch. */
  #flushAcks(): void {
    if (this.#acks.length === 0) return;
    const seqs = this.#acks.splice(0);
    try {
      this.#o.machine.outbox.acknowledge(seqs);
    } catch (err) {
      // They stay in the outbox and are sent again after a restart: consumers deduplicate.
      this.#o.log.error(
        { code: errorCodeOf(err), err, events: seqs.length },
        'fleet: removing delivered sale events from the outbox failed',
      );
    }
  }

  // -------------------------------------------------------------------------------------------
  // State and alerts
  // -------------------------------------------------------------------------------------------

  #scheduleTick(): void {
    if (this.#stopped) return;
    this.#tick = this.#o.clock.setTimeout(() => {
      this.#tick = undefined;
      void this.#refresh().finally(() => {
        this.#scheduleTick();
      });
      // Sale events another process closed (an operator refund) are found here.
      this.#pump();
    }, this.#period);
  }

  #changed(): void {
    if (this.#o.clock.now() - this.#lastPublishAt >= this.#period) void this.#refresh();
  }

  #refresh(): Promise<void> {
    if (this.#refreshing) {
      this.#again = true;
      return this.#refreshing;
    }
    this.#refreshing = (async () => {
      do {
        this.#again = false;
        await this.#refreshOnce().catch((err: unknown) => {
          this.#o.log.error(
            { code: errorCodeOf(err), err },
            'fleet: reading the machine state failed',
          );
        });
      } while (this.#repeat());
    })().finally(() => {
      this.#refreshing = undefined;
    });
    return this.#refreshing;
  }

  /** Whether a refresh was asked for while one ran. */
  #repeat(): boolean {
    return this.#again && !this.#stopped;
  }

  async #refreshOnce(): Promise<void> {
    const { machine, clock, link, machineId } = this.#o;
    const snapshot = await machine.snapshot();
    if (this.#stopped) return;
    const now = clock.now();
    this.#updateAlerts(snapshot, now);
    const body = encodeState(machineId, snapshot, 0);
    if (body === this.#lastState) return;
    const wait = this.#lastPublishAt + this.#period - now;
    if (wait > 0 && this.#lastState !== undefined) {
      this.#deferred ??= clock.setTimeout(() => {
        this.#deferred = undefined;
        void this.#refresh();
      }, wait);
      return;
    }
    if (
      link.publishNow(this.topics.state, encodeState(machineId, snapshot, now), {
        qos: 1,
        retain: true,
      })
    ) {
      this.#lastState = body;
      this.#lastPublishAt = now;
    }
  }

  #updateAlerts(snapshot: MachineSnapshot, now: number): void {
    const { log, link, machineId } = this.#o;
    if (snapshot.state === 'outOfService') this.#outOfServiceSince ??= now;
    else this.#outOfServiceSince = null;
    const conditions = alertConditions(
      snapshot,
      this.#outOfServiceSince === null ? 0 : now - this.#outOfServiceSince,
      this.#o.outOfServiceAlertMs ?? 300_000,
    );
    let changed = false;
    for (const [kind, detail] of conditions) {
      const known = this.#alerts.get(kind);
      if (known && known.detail === detail) continue;
      const alert: Alert = { kind, since: known?.since ?? now, detail };
      this.#alerts.set(kind, alert);
      changed = true;
      if (!known) {
        log.warn({ alert: kind, detail }, 'fleet alert raised');
        link.publishNow(this.topics.alert, encodeAlertChange(machineId, alert, 'raised', now), {
          qos: 1,
        });
      }
    }
    for (const [kind, alert] of this.#alerts) {
      if (conditions.has(kind)) continue;
      this.#alerts.delete(kind);
      changed = true;
      log.info({ alert: kind }, 'fleet alert cleared');
      link.publishNow(this.topics.alert, encodeAlertChange(machineId, alert, 'cleared', now), {
        qos: 1,
      });
    }
    if (changed)
      link.publishNow(
        this.topics.alerts,
        encodeAlerts(machineId, [...this.#alerts.values()], now),
        {
          qos: 1,
          retain: true,
        },
      );
  }

  #publishDiscovery(): void {
    const ha = this.#o.homeAssistant;
    if (!ha) return;
    for (const m of discoveryMessages(ha.discoveryPrefix, this.topics, {
      machineId: this.#o.machineId,
      ...ha.device,
    }))
      this.#o.link.publishNow(m.topic, m.payload, { qos: 1, retain: true });
  }

  // -------------------------------------------------------------------------------------------
  // Commands
  // -------------------------------------------------------------------------------------------

  #registerCommands(): void {
    const { commands } = this.#o.machine;
    const after = <T>(work: Promise<T>): Promise<T> =>
      work.finally(() => {
        this.#lastPublishAt = 0;
        void this.#refresh();
      });
    this.requests.handle('set-product', {
      schema: COMMAND_SCHEMAS['set-product'],
      run: (b) =>
        after(
          commands.setProduct(b.slot, {
            ...(b.price === undefined ? {} : { price: b.price }),
            ...(b.name === undefined ? {} : { name: b.name }),
            ...(b.enabled === undefined ? {} : { enabled: b.enabled }),
          }),
        ),
    });
    this.requests.handle('refill', {
      schema: COMMAND_SCHEMAS.refill,
      run: (b) => after(commands.refill(b.slot, b.stock)),
    });
    this.requests.handle('maintenance', {
      schema: COMMAND_SCHEMAS.maintenance,
      run: (b) => after(commands.setMaintenance(b.on)),
    });
    this.requests.handle('end-of-day', {
      schema: COMMAND_SCHEMAS['end-of-day'],
      run: () => after(commands.runEndOfDay()),
    });
    this.requests.handle('refund', {
      schema: COMMAND_SCHEMAS.refund,
      run: (b) => {
        const minor = b.amount === undefined ? undefined : parseDecimal(b.amount);
        if (minor === 0)
          throw new VendError('E_FLEET_COMMAND_INVALID', 'amount: must be more than 0');
        return after(commands.refundFlagged(b.txId, minor));
      },
    });
    this.requests.handle('status', {
      schema: COMMAND_SCHEMAS.status,
      run: async () => ({ machine: await commands.fullStatus(), fleet: this.status() }),
    });
  }
}
