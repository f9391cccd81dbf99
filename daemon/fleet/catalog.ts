/**
 * The machine's catalogue as remote commands change it: the configuration file's products with
 * the state directory's overlay (config/overlay.ts) on top, and the maintenance flag. Every
 * change is validated with the configuration's product schema and written durably before it is
 * acknowledged; the caller then hands it to the selling side (the core), which uses it at once.
 * At the next start the overlay is applied over the file again.
 */
import {
  changedProduct,
  readOverlay,
  writeOverlay,
  type Overlay,
  type ProductChange as OverlayChange,
} from '../../config/overlay.js';
import type { Config, ProductConfig } from '../../config/schema.js';
import { VendError } from '../errors.js';

export class Catalog {
  readonly #stateDirectory: string;
  #products: readonly ProductConfig[];
  #overlay: Overlay;
  #writing: Promise<unknown> = Promise.resolve();

  /** `config` is the configuration the daemon started with (the overlay already applied). */
  constructor(config: Config) {
    this.#stateDirectory = config.stateDirectory;
    this.#overlay = readOverlay(config.stateDirectory);
    this.#products = config.products;
  }

  products(): readonly ProductConfig[] {
    return this.#products;
  }

  get maintenance(): boolean {
    return this.#overlay.maintenance;
  }

  /** Validates and stores a change of one slot; resolves with the slot as it now is. */
  change(slot: number, change: OverlayChange): Promise<ProductConfig> {
    return this.#change(slot, change);
  }

  /** Stores a refill: the slot holds `stock` items as of `at` (epoch ms). */
  refill(slot: number, stock: number, at: number): Promise<ProductConfig> {
    return this.#change(slot, { stock }, at);
  }

  #change(slot: number, change: OverlayChange, refilledAt?: number): Promise<ProductConfig> {
    return this.#serial(async () => {
      const index = this.#products.findIndex((p) => p.slot === slot);
      const current = this.#products[index];
      if (current === undefined)
        throw new VendError('E_FLEET_COMMAND_REFUSED', `slot ${slot} is not configured`);
      const result = changedProduct(current, change);
      if (!result.ok) throw new VendError('E_FLEET_COMMAND_INVALID', result.problems.join('; '));
      const key = String(slot);
      const overlay: Overlay = {
        ...this.#overlay,
        products: {
          ...this.#overlay.products,
          [key]: { ...this.#overlay.products[key], ...definedOnly(change) },
        },
        refilledAt:
          refilledAt === undefined
            ? this.#overlay.refilledAt
            : { ...this.#overlay.refilledAt, [key]: refilledAt },
      };
      await writeOverlay(this.#stateDirectory, overlay);
      this.#overlay = overlay;
      this.#products = this.#products.map((p, i) => (i === index ? result.product : p));
      return result.product;
    });
  }

  setMaintenance(on: boolean): Promise<boolean> {
    return this.#serial(async () => {
      const overlay: Overlay = { ...this.#overlay, maintenance: on };
      await writeOverlay(this.#stateDirectory, overlay);
      this.#overlay = overlay;
      return on;
    });
  }

  #serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#writing.then(work, work);
    this.#writing = run.catch(() => undefined);
    return run.catch((err: unknown) => {
      if (err instanceof VendError) throw err;
      throw new VendError(
        'E_LEDGER_WRITE',
        'the change could not be stored in the state directory',
        {
          cause: err,
        },
      );
    });
  }
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
