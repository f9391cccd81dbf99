/**
 * The operator's side of the broker (`seqr-vend fleet ...`): commands as MQTT 5 requests
 * (response topic + correlation data) and the live view of every machine from the retained
 * availability, state and alerts topics.
 */
import { randomBytes } from 'node:crypto';
import { connectAsync, type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import { VendError } from '../errors.js';
import { decodeReply, type Reply } from './codec.js';
import { matches, sendAtOnce } from './link.js';
import { fleetFilters, machineTopics, parseTopic } from './topics.js';

export interface BrokerAccess {
  readonly url: string;
  readonly username?: string;
  readonly password?: string;
  readonly ca?: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
  readonly prefix: string;
}

/** MQTT.js options for a broker, TLS verified. */
export function clientOptions(access: BrokerAccess, clientId: string): IClientOptions {
  return {
    protocolVersion: 5,
    clientId,
    connectTimeout: 10_000,
    rejectUnauthorized: true,
    ...(access.username === undefined ? {} : { username: access.username }),
    ...(access.password === undefined ? {} : { password: access.password }),
    ...(access.ca === undefined ? {} : { ca: access.ca }),
    ...(access.cert === undefined ? {} : { cert: access.cert }),
    ...(access.key === undefined ? {} : { key: access.key }),
  };
}

/** What the live table shows of one machine. */
export interface MachineRow {
  readonly machineId: string;
  online: boolean | null;
  state: Record<string, unknown> | null;
  alerts: string[];
}

async function open(access: BrokerAccess, options: IClientOptions): Promise<MqttClient> {
  try {
    return sendAtOnce(await connectAsync(access.url, { ...options, reconnectPeriod: 0 }));
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new VendError(
      /not authori[sz]ed|bad user|password/i.test(message)
        ? 'E_FLEET_REFUSED'
        : 'E_FLEET_UNREACHABLE',
      `cannot connect to ${access.url}: ${message}`,
      { cause: err },
    );
  }
}

export class FleetOperator {
  readonly #client: MqttClient;
  readonly #access: BrokerAccess;
  readonly #sender: string;
  readonly #nonce = randomBytes(6).toString('hex');
  readonly #pending = new Map<string, (reply: Reply) => void>();
  readonly #rows = new Map<string, MachineRow>();
  readonly #watchers = new Set<() => void>();

  private constructor(client: MqttClient, access: BrokerAccess, sender: string) {
    this.#client = client;
    this.#access = access;
    this.#sender = sender;
    client.on('message', (topic, payload, packet: IPublishPacket) => {
      this.#message(topic, payload, packet);
    });
  }

  /**
   * Connects as `sender` (the broker user; the ACL lets it publish only to command topics with
   * its own name). Rejects E_FLEET_UNREACHABLE / E_FLEET_REFUSED.
   */
  static async connect(access: BrokerAccess, sender: string): Promise<FleetOperator> {
    const client = await open(
      access,
      clientOptions(access, `seqr-vend-op-${sender}-${randomBytes(4).toString('hex')}`),
    );
    const op = new FleetOperator(client, access, sender);
    await client.subscribeAsync(`${access.prefix}/+/reply/${sender}/${op.#nonce}`, { qos: 1 });
    return op;
  }

  /**
   * Sends `command` with `body` to `machineId` and resolves with its answer; rejects
   * E_FLEET_REFUSED when the broker refuses the request (ACL), E_FLEET_NO_ANSWER after
   * `timeoutMs`.
   */
  async request(
    machineId: string,
    command: string,
    body: unknown,
    timeoutMs = 10_000,
  ): Promise<Reply> {
    const topics = machineTopics(this.#access.prefix, machineId);
    const correlation = randomBytes(12);
    const key = correlation.toString('hex');
    const answer = new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(key);
        reject(
          new VendError(
            'E_FLEET_NO_ANSWER',
            `no answer from ${machineId} to ${command} within ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
      this.#pending.set(key, (reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
    });
    try {
      await this.#client.publishAsync(topics.command(this.#sender, command), JSON.stringify(body), {
        qos: 1,
        properties: {
          responseTopic: `${topics.replyPrefix}${this.#sender}/${this.#nonce}`,
          correlationData: correlation,
          messageExpiryInterval: Math.max(1, Math.ceil(timeoutMs / 1000)),
          userProperties: { clientId: this.#client.options.clientId ?? '' },
        },
      });
    } catch (err) {
      const settle = this.#pending.get(key);
      this.#pending.delete(key);
      settle?.({ status: 'error', code: 'E_FLEET_REFUSED', error: '' });
      throw new VendError(
        'E_FLEET_REFUSED',
        `the broker refused the command (is ${this.#sender} allowed to command ${machineId}?): ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
    return answer;
  }

  /** Follows every machine's availability, state and alerts; `onUpdate` after each change. */
  async watch(onUpdate: () => void): Promise<void> {
    this.#watchers.add(onUpdate);
    const f = fleetFilters(this.#access.prefix);
    await this.#client.subscribeAsync([f.availability, f.state, f.alerts], { qos: 1 });
  }

  rows(): MachineRow[] {
    return [...this.#rows.values()].sort((a, b) => a.machineId.localeCompare(b.machineId));
  }

  async close(): Promise<void> {
    await this.#client.endAsync();
  }

  #message(topic: string, payload: Buffer, packet: IPublishPacket): void {
    const correlation = packet.properties?.correlationData;
    if (correlation !== undefined && matches(`${this.#access.prefix}/+/reply/#`, topic)) {
      const reply = decodeReply(payload);
      const resolve = this.#pending.get(correlation.toString('hex'));
      if (reply && resolve) {
        this.#pending.delete(correlation.toString('hex'));
        resolve(reply);
      }
      return;
    }
    const parsed = parseTopic(this.#access.prefix, topic);
    if (!parsed || parsed.rest.length !== 1) return;
    const row =
      this.#rows.get(parsed.machineId) ??
      ({ machineId: parsed.machineId, online: null, state: null, alerts: [] } satisfies MachineRow);
    this.#rows.set(parsed.machineId, row);
    const text = payload.toString();
    try {
      switch (parsed.rest[0]) {
        case 'availability':
          row.online = text === 'online' ? true : text === 'offline' ? false : null;
          break;
        case 'state':
          row.state = text === '' ? null : (JSON.parse(text) as Record<string, unknown>);
          break;
        case 'alerts': {
          const doc = JSON.parse(text) as { active?: { kind?: unknown }[] };
          row.alerts = (doc.active ?? []).map((a) => String(a.kind));
          break;
        }
        case undefined:
        default:
          return;
      }
    } catch {
      return;
    }
    for (const w of [...this.#watchers]) w();
  }
}
