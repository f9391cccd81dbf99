import type { Display, Screen } from '../../daemon/ports/display.js';

/**
 * One display shown on several sinks: the configured one (framebuffer, file, terminal) and a
 * mirror such as the virtual kiosk's page. Every screen goes to every sink in the same tick, each
 * sink keeping its own latest-wins queue. `show` resolves once every sink has the frame out and
 * rejects with the first failure in sink order (the configured sink first), after all settled.
 * `close` closes every sink (idempotent) and rejects with the first failure.
 */
export class TeeDisplay implements Display {
  readonly #sinks: readonly Display[];
  #closed: Promise<void> | undefined;

  constructor(sinks: readonly Display[]) {
    this.#sinks = sinks;
  }

  async show(screen: Screen): Promise<void> {
    await firstFailure(this.#sinks.map((sink) => sink.show(screen)));
  }

  close(): Promise<void> {
    this.#closed ??= firstFailure(this.#sinks.map((sink) => sink.close()));
    return this.#closed;
  }
}

async function firstFailure(outcomes: readonly Promise<void>[]): Promise<void> {
  for (const outcome of await Promise.allSettled(outcomes))
    if (outcome.status === 'rejected') throw outcome.reason;
}
