/**
 * The gateway's way to a machine: MQTT 5 request/response over the operator's broker, in the
 * fleet's conventions. A request goes to `<prefix>/<machineId>/command/<sender>/<name>` with a
 * response topic `<prefix>/<machineId>/reply/<sender>/<replica nonce>`, random correlation data
 * and a message expiry equal to the deadline (a machine that reconnects later never acts on a
 * stale request); the machine answers on that topic with the same correlation data. Each replica
 * listens only to its own nonce, keeps nothing but the requests it is waiting for, and needs no
 * other replica: any number can run side by side.
 */
import { randomBytes } from 'node:crypto';
import { connect, type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import { VendError } from '../errors.js';
import { decodeReply, MACHINE_ID, type Reply } from './protocol.js';

export interface RelayRequest {
  /** The machine (a topic level). */
  readonly machineId: string;
  /** The request name (a topic level): `ups-purchase`, `seqr-notify`. */
  readonly name: string;
  /** JSON-serialisable body. */
  readonly body: object;
  /** Reject with E_GATEWAY_NO_ANSWER when no answer came within this time. */
  readonly deadlineMs: number;
  /** Carried as an MQTT user property so the machine's journal names it too. */
  readonly requestId: string;
}

/** What `/healthz` and the logs say about the link. */
export interface RelayStatus {
  readonly connected: boolean;
  /** Requests waiting for an answer now. */
  readonly waiting: number;
}

/**
 * Sends requests to machines and waits for their answers. `request` resolves with the machine's
 * reply (ok or coded error); it rejects `E_GATEWAY_BROKER` at once when the broker link is down
 * (nothing was sent) and `E_GATEWAY_NO_ANSWER` when the deadline passed (the request may or may
 * not have reached the machine). It never retries.
 */
export interface MachineRelay {
  request(request: RelayRequest): Promise<Reply>;
  status(): RelayStatus;
  close(): Promise<void>;
}

export interface MqttRelayOptions {
  readonly url: string;
  /** The broker user: the `<sender>` level of command and reply topics (the ACL pins it). */
  readonly sender: string;
  readonly username?: string;
  readonly password?: string;
  readonly ca?: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
  /** Topics are `<prefix>/<machineId>/...`. */
  readonly prefix: string;
  /** Requests waiting at once; more reject E_GATEWAY_BROKER ("busy") at once. Default 1024. */
  readonly maxWaiting?: number;
  /**
   * Called when the link comes up, and when it goes down or fails to come up for a reason not
   * reported since it was last up (for the journal: one line per problem, not one per retry).
   */
  readonly onLinkChange?: (connected: boolean, reason?: string) => void;
}

interface Waiting {
  readonly machineId: string;
  readonly resolve: (reply: Reply) => void;
  readonly timer: NodeJS.Timeout;
}

/** The answers of one replica arrive on `<prefix>/+/reply/<sender>/<nonce>`. */
export class MqttRelay implements MachineRelay {
  readonly #client: MqttClient;
  readonly #options: MqttRelayOptions;
  readonly #nonce = randomBytes(8).toString('hex');
  readonly #waiting = new Map<string, Waiting>();
  #wasConnected = false;
  #reported: string | undefined;

  private constructor(options: MqttRelayOptions) {
    if (!MACHINE_ID.test(options.sender)) throw new Error('sender must be a topic level');
    this.#options = options;
    const clientOptions: IClientOptions = {
      protocolVersion: 5,
      clientId: `seqr-vend-gateway-${this.#nonce}`,
      clean: true,
      keepalive: 30,
      connectTimeout: 10_000,
      reconnectPeriod: 1_000,
      queueQoSZero: false,
      resubscribe: true,
      rejectUnauthorized: true,
      properties: { sessionExpiryInterval: 0, maximumPacketSize: 65_536 },
      ...(options.username === undefined ? {} : { username: options.username }),
      ...(options.password === undefined ? {} : { password: options.password }),
      ...(options.ca === undefined ? {} : { ca: options.ca }),
      ...(options.cert === undefined ? {} : { cert: options.cert }),
      ...(options.key === undefined ? {} : { key: options.key }),
    };
    this.#client = connect(options.url, clientOptions);
    const down = (reason: string): void => {
      this.#wasConnected = false;
      if (this.#reported === reason) return;
      this.#reported = reason;
      options.onLinkChange?.(false, reason);
    };
    this.#client.on('connect', () => {
      // A request is one small write waiting on an answer: Nagle's algorithm would hold it (or
      // its acknowledgement) for the peer's delayed ACK, some 40 ms a hop.
      (this.#client.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
      this.#client.subscribe(this.#replyFilter(), { qos: 1 }, (err) => {
        if (err) down(`subscribe failed: ${err.message}`);
      });
      if (!this.#wasConnected) options.onLinkChange?.(true);
      this.#wasConnected = true;
      this.#reported = undefined;
    });
    this.#client.on('close', () => {
      if (this.#wasConnected) down('connection closed');
    });
    this.#client.on('error', (err) => {
      down(err.message);
    });
    this.#client.on('message', (topic, payload, packet: IPublishPacket) => {
      this.#answer(topic, payload, packet);
    });
  }

  /** Starts connecting in the background and returns at once. */
  static open(options: MqttRelayOptions): MqttRelay {
    return new MqttRelay(options);
  }

  status(): RelayStatus {
    return { connected: this.#client.connected, waiting: this.#waiting.size };
  }

  request(request: RelayRequest): Promise<Reply> {
    if (!MACHINE_ID.test(request.machineId) || !MACHINE_ID.test(request.name))
      return Promise.reject(new Error('machine id and request name must be topic levels'));
    if (!this.#client.connected)
      return Promise.reject(
        new VendError('E_GATEWAY_BROKER', 'the broker is not connected: nothing was sent'),
      );
    if (this.#waiting.size >= (this.#options.maxWaiting ?? 1024))
      return Promise.reject(
        new VendError('E_GATEWAY_BROKER', 'too many requests are waiting: nothing was sent'),
      );
    const correlation = randomBytes(16);
    const key = correlation.toString('hex');
    const base = `${this.#options.prefix}/${request.machineId}`;
    return new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(key);
        reject(
          new VendError(
            'E_GATEWAY_NO_ANSWER',
            `no answer from machine ${request.machineId} to ${request.name} within ${request.deadlineMs} ms`,
          ),
        );
      }, request.deadlineMs);
      this.#waiting.set(key, { machineId: request.machineId, resolve, timer });
      this.#client.publish(
        `${base}/command/${this.#options.sender}/${request.name}`,
        JSON.stringify(request.body),
        {
          qos: 1,
          properties: {
            responseTopic: `${base}/reply/${this.#options.sender}/${this.#nonce}`,
            correlationData: correlation,
            messageExpiryInterval: Math.max(1, Math.ceil(request.deadlineMs / 1000)),
            userProperties: {
              clientId: this.#client.options.clientId ?? '',
              requestId: request.requestId,
            },
          },
        },
        (err) => {
          if (!err) return;
          const waiting = this.#waiting.get(key);
          if (!waiting) return;
          clearTimeout(waiting.timer);
          this.#waiting.delete(key);
          reject(
            new VendError(
              'E_GATEWAY_BROKER',
              `the broker did not take the request: ${err.message}`,
              {
                cause: err,
              },
            ),
          );
        },
      );
    });
  }

  async close(): Promise<void> {
    for (const [key, waiting] of this.#waiting) {
      clearTimeout(waiting.timer);
      this.#waiting.delete(key);
    }
    await this.#client.endAsync();
  }

  #replyFilter(): string {
    return `${this.#options.prefix}/+/reply/${this.#options.sender}/${this.#nonce}`;
  }

  #answer(topic: string, payload: Buffer, packet: IPublishPacket): void {
    const correlation = packet.properties?.correlationData;
    if (correlation === undefined) return;
    const waiting = this.#waiting.get(correlation.toString('hex'));
    if (!waiting) return;
    // Only the machine asked may answer: its id is the topic level the broker's ACL pins.
    const expected = `${this.#options.prefix}/${waiting.machineId}/reply/`;
    if (!topic.startsWith(expected)) return;
    const reply = decodeReply(payload);
    if (!reply) return;
    clearTimeout(waiting.timer);
    this.#waiting.delete(correlation.toString('hex'));
    waiting.resolve(reply);
  }
}
