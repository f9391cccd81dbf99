/**
 * MQTT 5 request/response on the machine: requests arrive on
 * `<prefix>/<id>/command/<sender>/<name>` with a response topic and correlation data; each is
 * validated and bounded, run by the handler registered for its name, answered
 * `{"status":"ok","data":...}` or `{"status":"error","code":"E_...","error":"..."}` on the
 * response topic, and written to the journal with the sender. Operator commands register here;
 * so can other consumers (the SEQR callback gateway) with names and lanes of their own.
 */
import type { z } from 'zod';
import { VendError, errorCodeOf } from '../errors.js';
import { describeIssues, encodeReply, type Reply } from './codec.js';
import type { FleetLog, IncomingMessage, MqttLink } from './link.js';
import { TOPIC_LEVEL, type MachineTopics } from './topics.js';

/** Largest request body accepted. */
export const MAX_REQUEST_BYTES = 8_192;
/** Longest correlation data echoed back. */
export const MAX_CORRELATION_BYTES = 128;
/** Requests waiting per lane; more are answered E_FLEET_BUSY. */
export const MAX_QUEUED_PER_LANE = 8;

/** Who sent a request: the broker-enforced sender level, and what the client says about itself. */
export interface RequestContext {
  readonly sender: string;
  /** MQTT 5 user property `clientId`, as the sender declared it (informative only). */
  readonly clientId?: string;
}

export interface RequestHandler<S extends z.ZodType> {
  readonly schema: S;
  /** Requests of one lane run one at a time, in arrival order. Default `operator`. */
  readonly lane?: string;
  run(body: z.output<S>, context: RequestContext): Promise<unknown>;
}

interface Job {
  readonly name: string;
  readonly message: IncomingMessage;
  readonly context: RequestContext;
  readonly run: () => Promise<unknown>;
}

export class RequestRouter {
  readonly #link: MqttLink;
  readonly #topics: MachineTopics;
  readonly #log: FleetLog;
  readonly #handlers = new Map<string, RequestHandler<z.ZodType>>();
  readonly #lanes = new Map<string, { queue: Job[]; running: boolean }>();
  #stopped = false;

  constructor(link: MqttLink, topics: MachineTopics, log: FleetLog) {
    this.#link = link;
    this.#topics = topics;
    this.#log = log;
    link.subscribe(topics.commandFilter, (message) => {
      this.#receive(message);
    });
  }

  /** Registers the handler of request `name` (a topic level). */
  handle<S extends z.ZodType>(name: string, handler: RequestHandler<S>): void {
    if (!TOPIC_LEVEL.test(name)) throw new Error(`not a request name: ${name}`);
    this.#handlers.set(name, handler);
  }

  /** Stops taking requests; those queued are dropped unanswered (the sender times out). */
  stop(): void {
    this.#stopped = true;
    for (const lane of this.#lanes.values()) lane.queue.length = 0;
  }

  #receive(message: IncomingMessage): void {
    if (this.#stopped) return;
    const levels = message.topic.slice(this.#topics.base.length + 1).split('/');
    const [, sender = '', name = ''] = levels;
    const context: RequestContext = {
      sender,
      ...(message.userProperties['clientId'] === undefined
        ? {}
        : { clientId: message.userProperties['clientId'].slice(0, 64) }),
    };
    const log = { command: name, sender, clientId: context.clientId };
    // A retained request would run again at every reconnect: never act on one.
    if (message.retained) {
      this.#log.warn({ ...log, code: 'E_FLEET_COMMAND_INVALID' }, 'retained fleet command ignored');
      return;
    }
    const replyTo = this.#replyTopic(message);
    if (replyTo === null) {
      this.#log.warn(
        {
          ...log,
          code: 'E_FLEET_COMMAND_INVALID',
          responseTopic: message.responseTopic?.slice(0, 200),
        },
        'fleet command refused: its response topic is not under this machine',
      );
      return;
    }
    const fail = (code: 'E_FLEET_COMMAND_INVALID' | 'E_FLEET_BUSY', error: string): void => {
      this.#log.warn({ ...log, code, error }, 'fleet command refused');
      this.#answer(replyTo, message, { status: 'error', code, error });
    };
    const handler = this.#handlers.get(name);
    if (!TOPIC_LEVEL.test(sender) || handler === undefined) {
      fail('E_FLEET_COMMAND_INVALID', `unknown command "${name.slice(0, 64)}"`);
      return;
    }
    if (message.payload.length > MAX_REQUEST_BYTES) {
      fail('E_FLEET_COMMAND_INVALID', `the request is larger than ${MAX_REQUEST_BYTES} bytes`);
      return;
    }
    let json: unknown;
    try {
      json = message.payload.length === 0 ? {} : JSON.parse(message.payload.toString('utf8'));
    } catch {
      fail('E_FLEET_COMMAND_INVALID', 'the request is not JSON');
      return;
    }
    const parsed = handler.schema.safeParse(json);
    if (!parsed.success) {
      fail('E_FLEET_COMMAND_INVALID', describeIssues(parsed.error));
      return;
    }
    const laneName = handler.lane ?? 'operator';
    let lane = this.#lanes.get(laneName);
    if (!lane) {
      lane = { queue: [], running: false };
      this.#lanes.set(laneName, lane);
    }
    if (lane.queue.length >= MAX_QUEUED_PER_LANE) {
      fail('E_FLEET_BUSY', `${MAX_QUEUED_PER_LANE} commands are already waiting`);
      return;
    }
    const body: unknown = parsed.data;
    lane.queue.push({ name, message, context, run: () => handler.run(body, context) });
    void this.#drain(lane);
  }

  async #drain(lane: { queue: Job[]; running: boolean }): Promise<void> {
    if (lane.running) return;
    lane.running = true;
    try {
      for (let job = lane.queue.shift(); job && !this.#stopped; job = lane.queue.shift()) {
        const to = this.#replyTopic(job.message);
        const log = {
          command: job.name,
          sender: job.context.sender,
          clientId: job.context.clientId,
        };
        let reply: Reply;
        try {
          reply = { status: 'ok', data: (await job.run()) ?? null };
          this.#log.info({ ...log, outcome: 'ok' }, 'fleet command done');
        } catch (err) {
          const code = errorCodeOf(err) ?? 'E_UNEXPECTED';
          const error = err instanceof VendError ? err.message : 'internal error';
          reply = { status: 'error', code, error };
          if (code === 'E_UNEXPECTED')
            this.#log.error({ ...log, outcome: 'error', code, err }, 'fleet command failed');
          else this.#log.warn({ ...log, outcome: 'error', code, error }, 'fleet command failed');
        }
        this.#answer(to ?? undefined, job.message, reply);
      }
    } finally {
      lane.running = false;
    }
  }

  /**
   * Where to answer: the request's response topic when it lies under this machine's reply
   * prefix (the machine publishes nowhere else), undefined when there is none (answer only in
   * the journal: Home Assistant's buttons), null when it points elsewhere (refused).
   */
  #replyTopic(message: IncomingMessage): string | undefined | null {
    const topic = message.responseTopic;
    if (topic === undefined) return undefined;
    const rest = topic.slice(this.#topics.replyPrefix.length);
    if (
      !topic.startsWith(this.#topics.replyPrefix) ||
      rest === '' ||
      topic.length > 256 ||
      /[+#]/.test(topic) ||
      topic.includes('\u0000')
    )
      return null;
    return topic;
  }

  #answer(to: string | undefined, message: IncomingMessage, reply: Reply): void {
    if (to === undefined) return;
    const correlation = message.correlationData?.subarray(0, MAX_CORRELATION_BYTES);
    this.#link.publishNow(to, encodeReply(reply), {
      qos: 1,
      ...(correlation === undefined ? {} : { correlationData: correlation }),
    });
  }
}
