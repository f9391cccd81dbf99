/**
 * The machine's connection to the fleet broker (MQTT 5 over the `mqtt` package). It never blocks
 * the machine: `open` returns at once, the connection comes and goes in the background with an
 * exponential backoff, and nothing is queued for an absent broker beyond the QoS 1 messages a
 * caller has in flight (callers bound those).
 */
import { connect, type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import { VendError, type ErrorCode } from '../errors.js';
import type { Clock, TimerHandle } from '../ports/clock.js';

/** The logging the fleet needs; a pino logger fits. */
export interface FleetLog {
  debug(fields: object, msg: string): void;
  info(fields: object, msg: string): void;
  warn(fields: object, msg: string): void;
  error(fields: object, msg: string): void;
}

export interface LinkOptions {
  /** `mqtt://` or `mqtts://` (TLS with certificate verification). */
  readonly url: string;
  readonly clientId: string;
  readonly username?: string;
  readonly password?: string;
  readonly ca?: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
  /** The last will: published (retained, QoS 1) by the broker when the link dies. */
  readonly will: { readonly topic: string; readonly payload: string };
  readonly clock: Clock;
  readonly log: FleetLog;
  /** First reconnect delay; doubles per failure up to `maxBackoffMs`. Default 1 s / 60 s. */
  readonly minBackoffMs?: number;
  readonly maxBackoffMs?: number;
  /** Largest packet accepted from the broker (MQTT 5 maximumPacketSize). Default 64 KiB. */
  readonly maxPacketBytes?: number;
  /** Keep-alive in seconds. Default 30. */
  readonly keepaliveS?: number;
}

/** What `status` and the fleet state report about the link. */
export interface LinkStatus {
  readonly url: string;
  readonly connected: boolean;
  /** When the link last came up or went down (epoch ms); null before the first attempt ended. */
  readonly since: number | null;
  readonly lastError: { readonly code: ErrorCode; readonly message: string } | null;
}

/** An incoming publish, as the link hands it to a subscriber. */
export interface IncomingMessage {
  readonly topic: string;
  readonly payload: Buffer;
  readonly retained: boolean;
  readonly responseTopic?: string;
  readonly correlationData?: Buffer;
  readonly userProperties: Readonly<Record<string, string>>;
}

export interface PublishOptions {
  readonly qos: 0 | 1;
  readonly retain?: boolean;
  readonly correlationData?: Buffer;
}

/** MQTT 5 CONNACK / PUBACK reason codes that mean "not allowed" rather than "not reachable". */
const REFUSALS = new Set([0x84, 0x85, 0x86, 0x87, 0x8a, 0x8c, 0x90, 0x97, 0x99]);

function classify(err: unknown): { code: ErrorCode; message: string } {
  const reason =
    typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'number'
      ? err.code
      : undefined;
  const message = err instanceof Error ? err.message : String(err);
  if (reason !== undefined && REFUSALS.has(reason)) return { code: 'E_FLEET_REFUSED', message };
  if (/not authori[sz]ed|bad user ?name or password|banned/i.test(message))
    return { code: 'E_FLEET_REFUSED', message };
  return { code: 'E_FLEET_UNREACHABLE', message };
}

/** The URL without user info, for logs and status. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return u.toString().replace(/\/$/, '');
  } catch {
    return '(invalid url)';
  }
}

export class MqttLink {
  readonly #options: LinkOptions;
  readonly #clientOptions: IClientOptions;
  /** One MQTT.js client per connection: a lost connection fails what was in flight. */
  #client: MqttClient;
  readonly #url: string;
  readonly #connectListeners = new Set<() => void>();
  readonly #subscriptions = new Map<string, (message: IncomingMessage) => void>();
  #since: number | null = null;
  #lastError: LinkStatus['lastError'] = null;
  #backoffMs: number;
  #warned: string | undefined;
  #closed = false;
  #retry: TimerHandle | undefined;

  private constructor(options: LinkOptions) {
    this.#options = options;
    this.#url = redactUrl(options.url);
    this.#backoffMs = options.minBackoffMs ?? 1_000;
    const clientOptions: IClientOptions = {
      protocolVersion: 5,
      clientId: options.clientId,
      clean: true,
      keepalive: options.keepaliveS ?? 30,
      connectTimeout: 10_000,
      // Reconnects are ours (with backoff); MQTT.js's fixed period is off.
      reconnectPeriod: 0,
      queueQoSZero: false,
      resubscribe: false,
      will: {
        topic: options.will.topic,
        payload: Buffer.from(options.will.payload),
        qos: 1,
        retain: true,
      },
      properties: {
        sessionExpiryInterval: 0,
        receiveMaximum: 16,
        maximumPacketSize: options.maxPacketBytes ?? 65_536,
      },
      ...(options.username === undefined ? {} : { username: options.username }),
      ...(options.password === undefined ? {} : { password: options.password }),
      ...(options.ca === undefined ? {} : { ca: options.ca }),
      ...(options.cert === undefined ? {} : { cert: options.cert }),
      ...(options.key === undefined ? {} : { key: options.key }),
      rejectUnauthorized: true,
    };
    this.#clientOptions = clientOptions;
    this.#client = this.#connect();
  }

  /**
   * A fresh MQTT.js client. When its connection ends it is ended for good (which fails its
   * in-flight publishes: their callers send them again on the next connection) and a new one
   * follows after the backoff. MQTT.js's own resending across reconnects is not relied on.
   */
  #connect(): MqttClient {
    const options = this.#options;
    const client = sendAtOnce(connect(options.url, this.#clientOptions));
    client.on('connect', () => {
      this.#since = options.clock.now();
      this.#backoffMs = options.minBackoffMs ?? 1_000;
      if (this.#warned !== undefined)
        options.log.info({ broker: this.#url }, 'fleet broker connected again');
      else options.log.info({ broker: this.#url }, 'fleet broker connected');
      this.#warned = undefined;
      this.#lastError = null;
      for (const [filter] of this.#subscriptions) this.#subscribe(filter);
      for (const listener of [...this.#connectListeners]) listener();
    });
    client.on('error', (err) => {
      this.#noteError(err);
    });
    client.once('close', () => {
      client.end(true);
      if (this.#closed) return;
      if (this.#since !== null && this.#lastError === null)
        this.#noteError(new Error('connection closed'));
      this.#since = options.clock.now();
      this.#scheduleReconnect();
    });
    client.on('message', (topic, payload, packet: IPublishPacket) => {
      for (const [filter, listener] of this.#subscriptions)
        if (matches(filter, topic)) listener(incoming(topic, payload, packet));
    });
    return client;
  }

  /** Starts connecting in the background and returns at once. */
  static open(options: LinkOptions): MqttLink {
    return new MqttLink(options);
  }

  get connected(): boolean {
    return this.#client.connected;
  }

  status(): LinkStatus {
    return {
      url: this.#url,
      connected: this.connected,
      since: this.#since,
      lastError: this.#lastError,
    };
  }

  /** Called on every connection (first and reconnects); returns the unsubscribe function. */
  onConnect(listener: () => void): () => void {
    this.#connectListeners.add(listener);
    return () => this.#connectListeners.delete(listener);
  }

  /**
   * Subscribes `filter` (QoS 1, no retained messages sent at subscription, not our own
   * messages, the retain flag as published) now and after every reconnect.
   */
  subscribe(filter: string, listener: (message: IncomingMessage) => void): void {
    this.#subscriptions.set(filter, listener);
    if (this.connected) this.#subscribe(filter);
  }

  /**
   * Publishes. QoS 1 resolves on the broker's PUBACK (MQTT.js sends it again after a reconnect
   * until then) and rejects `E_FLEET_REFUSED` when the broker refuses it, `E_FLEET_UNREACHABLE`
   * when the link is closed first. QoS 0 resolves once written.
   */
  publish(topic: string, payload: string, options: PublishOptions): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#client.publish(
        topic,
        payload,
        {
          qos: options.qos,
          retain: options.retain ?? false,
          ...(options.correlationData === undefined
            ? {}
            : { properties: { correlationData: options.correlationData } }),
        },
        (err) => {
          if (!err) {
            resolve();
            return;
          }
          const { code, message } = classify(err);
          reject(
            new VendError(code, `fleet: publish to ${topic} failed: ${message}`, { cause: err }),
          );
        },
      );
    });
  }

  /**
   * Publishes only while connected; returns false (and sends nothing, stores nothing) otherwise.
   * For what is worth sending only fresh: live state, alerts, replies.
   */
  publishNow(topic: string, payload: string, options: PublishOptions): boolean {
    if (!this.connected) return false;
    this.publish(topic, payload, options).catch((err: unknown) => {
      this.#options.log.debug({ err, topic }, 'fleet publish failed');
    });
    return true;
  }

  /**
   * Publishes the availability `offline` (unless the link is down), then disconnects without
   * the will. Idempotent.
   */
  async close(offline?: { topic: string; payload: string }): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#retry !== undefined) this.#options.clock.clearTimeout(this.#retry);
    if (offline && this.connected)
      await withTimeout(
        this.publish(offline.topic, offline.payload, { qos: 1, retain: true }).catch(
          () => undefined,
        ),
        2_000,
      );
    const client = this.#client;
    await new Promise<void>((resolve) => {
      client.end(!client.connected, { reasonCode: 0 }, () => {
        resolve();
      });
    });
  }

  #subscribe(filter: string): void {
    this.#client.subscribe(filter, { qos: 1, rh: 2, nl: true, rap: true }, (err) => {
      if (err) this.#noteError(err);
    });
  }

  #scheduleReconnect(): void {
    if (this.#closed || this.#retry !== undefined) return;
    const delay = this.#backoffMs;
    this.#backoffMs = Math.min(this.#options.maxBackoffMs ?? 60_000, this.#backoffMs * 2);
    this.#retry = this.#options.clock.setTimeout(() => {
      this.#retry = undefined;
      if (!this.#closed) this.#client = this.#connect();
    }, delay);
  }

  #noteError(err: unknown): void {
    const { code, message } = classify(err);
    this.#lastError = { code, message };
    // One warning per distinct problem, not one per retry.
    const key = `${code}:${message}`;
    if (this.#warned === key) return;
    this.#warned = key;
    this.#options.log.warn(
      { code, broker: this.#url, reason: message },
      code === 'E_FLEET_REFUSED'
        ? 'fleet broker refused the machine: selling goes on, sale events wait in the ledger'
        : 'fleet broker unreachable: selling goes on, sale events wait in the ledger',
    );
  }
}

function incoming(topic: string, payload: Buffer, packet: IPublishPacket): IncomingMessage {
  const props = packet.properties;
  const user: Record<string, string> = {};
  for (const [k, v] of Object.entries(props?.userProperties ?? {}))
    user[k] = Array.isArray(v) ? v.join(',') : v;
  return {
    topic,
    payload,
    retained: packet.retain,
    ...(props?.responseTopic === undefined ? {} : { responseTopic: props.responseTopic }),
    ...(props?.correlationData === undefined ? {} : { correlationData: props.correlationData }),
    userProperties: user,
  };
}

/** MQTT topic filter matching (`+` one level, `#` the rest). */
export function matches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

function withTimeout(work: Promise<unknown>, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    void work.then(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/**
 * Turns Nagle's algorithm off on the client's TCP (or TLS) socket, now and on every connection
 * MQTT.js opens for it: MQTT's packets are small, and Nagle would hold each one written while an
 * earlier one awaits its ACK for the peer's delayed ACK (some 40 ms a hop). MQTT.js has no
 * option for it.
 */
export function sendAtOnce(client: MqttClient): MqttClient {
  const set = (): void => {
    (client.stream as { setNoDelay?: (on: boolean) => void } | undefined)?.setNoDelay?.(true);
  };
  set();
  client.on('connect', set);
  return client;
}
