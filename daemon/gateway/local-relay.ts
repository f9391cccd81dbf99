/**
 * A {@link MachineRelay} without a broker: the gateway and one machine in the same process. The
 * demo (`npm start`) uses it, so the simulated SEQR's callbacks reach the daemon through the same
 * gateway endpoint, validation and answers as in production, minus MQTT. Handlers register like
 * the fleet's request router's (`handle(name, { schema, run })`); a request is validated with the
 * handler's schema, run, and answered `{"status":"ok","data":...}` or
 * `{"status":"error","code","error"}` within the deadline.
 */
import type { z } from 'zod';
import { VendError, errorCodeOf } from '../errors.js';
import type { Reply } from './protocol.js';
import type { MachineRelay, RelayRequest, RelayStatus } from './relay.js';

export interface LocalHandler<S extends z.ZodType> {
  readonly schema: S;
  run(
    body: z.output<S>,
    context: { readonly sender: string; readonly requestId: string },
  ): Promise<unknown>;
}

export class LocalRelay implements MachineRelay {
  readonly #machineId: string;
  readonly #handlers = new Map<string, LocalHandler<z.ZodType>>();
  #waiting = 0;
  #closed = false;

  constructor(machineId: string) {
    this.#machineId = machineId;
  }

  /** Registers the handler of request `name`. */
  handle<S extends z.ZodType>(name: string, handler: LocalHandler<S>): void {
    this.#handlers.set(name, handler);
  }

  status(): RelayStatus {
    return { connected: !this.#closed, waiting: this.#waiting };
  }

  async request(request: RelayRequest): Promise<Reply> {
    if (this.#closed)
      throw new VendError('E_GATEWAY_BROKER', 'the local relay is closed: nothing was sent');
    // Another machine id is a machine that is not here: silent, as on a broker.
    if (request.machineId !== this.#machineId)
      throw new VendError('E_GATEWAY_NO_ANSWER', `no machine ${request.machineId} in this process`);
    const handler = this.#handlers.get(request.name);
    if (!handler)
      return {
        status: 'error',
        code: 'E_GATEWAY_REQUEST_INVALID',
        error: `unknown request "${request.name}"`,
      };
    const parsed = handler.schema.safeParse(request.body);
    if (!parsed.success)
      return { status: 'error', code: 'E_GATEWAY_REQUEST_INVALID', error: parsed.error.message };
    this.#waiting += 1;
    let timer: NodeJS.Timeout | undefined;
    try {
      const deadline = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => {
          reject(
            new VendError(
              'E_GATEWAY_NO_ANSWER',
              `no answer from machine ${request.machineId} to ${request.name} within ${request.deadlineMs} ms`,
            ),
          );
        }, request.deadlineMs);
      });
      const work = handler.run(parsed.data, { sender: 'local', requestId: request.requestId });
      work.catch(() => undefined);
      const data: unknown = await Promise.race([work, deadline]);
      return { status: 'ok', data: data ?? null };
    } catch (err) {
      if (errorCodeOf(err) === 'E_GATEWAY_NO_ANSWER') throw err;
      return {
        status: 'error',
        code: errorCodeOf(err) ?? 'E_UNEXPECTED',
        error: err instanceof VendError ? err.message : 'internal error',
      };
    } finally {
      clearTimeout(timer);
      this.#waiting -= 1;
    }
  }

  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }
}
