import type { LineSink } from '../log.js';

/** A log sink that also feeds the kiosk page's journal view. */
export class LineFeed implements LineSink {
  readonly #sink: LineSink;
  readonly #listeners = new Set<(line: string) => void>();

  constructor(sink: LineSink) {
    this.#sink = sink;
  }

  write(chunk: string): void {
    this.#sink.write(chunk);
    for (const listener of this.#listeners) listener(chunk);
  }

  subscribe(listener: (line: string) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
