/**
 * Remote changes to the catalogue (fleet commands: price, name, enabled, stock) and the
 * maintenance flag, kept in the state directory as `overlay.json` and applied at start over the
 * configuration file. Each product change is validated with the configuration's own product
 * schema, so a remote change can never produce a product the file could not.
 */
import { promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { ConfigError, deepFreeze } from './load.js';
import { productObject, productSchema, type Config, type ProductConfig } from './schema.js';
import { parseDecimal } from '../daemon/ports/money.js';

/** The overlay's file name inside the state directory. */
export const OVERLAY_FILE = 'overlay.json';

/** What a remote command may change on one slot. */
export const productChangeSchema = productObject
  .pick({ name: true, price: true, stock: true, enabled: true })
  .partial();
export type ProductChange = z.infer<typeof productChangeSchema>;

export const overlaySchema = z.strictObject({
  version: z.literal(1),
  /** Per slot number (as a string key), the fields changed remotely. */
  products: z.record(z.string().regex(/^\d{1,2}$/), productChangeSchema).default({}),
  maintenance: z.boolean().default(false),
  /**
   * Per slot, when its stock was last set remotely (epoch ms): at start the slot holds that
   * count less the deliveries the ledger recorded since.
   */
  refilledAt: z.record(z.string().regex(/^\d{1,2}$/), z.int().min(0)).default({}),
});
export type Overlay = z.infer<typeof overlaySchema>;

export const EMPTY_OVERLAY: Overlay = {
  version: 1,
  products: {},
  maintenance: false,
  refilledAt: {},
};

export function overlayPath(stateDirectory: string): string {
  return path.join(stateDirectory, OVERLAY_FILE);
}

/**
 * Reads the overlay of `stateDirectory`; none yet is the empty overlay. A damaged or invalid file
 * throws {@link ConfigError} (E_CONFIG_INVALID): prices must never be guessed.
 */
export function readOverlay(stateDirectory: string): Overlay {
  const file = overlayPath(stateDirectory);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    // No state directory yet (or a path through a file, which start-up reports as such): no overlay.
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return EMPTY_OVERLAY;
    throw new ConfigError([
      `${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
    ]);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new ConfigError([`${file}: not JSON; fix or delete it (remote changes are then lost)`]);
  }
  const parsed = overlaySchema.safeParse(raw);
  if (!parsed.success)
    throw new ConfigError(
      parsed.error.issues.map((i) => `${file}: ${i.path.join('.')}: ${i.message}`),
    );
  return parsed.data;
}

/** Writes the overlay atomically and durably (temp file, fsync, rename, directory fsync). */
export async function writeOverlay(stateDirectory: string, overlay: Overlay): Promise<void> {
  const file = overlayPath(stateDirectory);
  const temp = `${file}.${String(process.pid)}.tmp`;
  const handle = await fs.open(temp, 'w', 0o640);
  try {
    await handle.writeFile(`${JSON.stringify(overlaySchema.parse(overlay), null, 2)}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fs.rename(temp, file);
  const dir = await fs.open(stateDirectory, 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/**
 * One product with `change` applied, validated as the configuration file's products are (schema,
 * price above zero, stock and sold-out switch exclusive). Returns the product or the problems.
 */
export function changedProduct(
  product: ProductConfig,
  change: ProductChange,
): { ok: true; product: ProductConfig } | { ok: false; problems: string[] } {
  // As written in the file: the schema derives priceMinor again.
  const written: Record<string, unknown> = { ...product };
  delete written['priceMinor'];
  const merged = { ...written, ...definedOnly(change) };
  const parsed = productSchema.safeParse(merged);
  if (!parsed.success)
    return {
      ok: false,
      problems: parsed.error.issues.map((i) => `${i.path.join('.') || 'product'}: ${i.message}`),
    };
  const problems: string[] = [];
  if (parseDecimal(parsed.data.price) === 0) problems.push('price: must be more than 0');
  if (change.stock !== undefined && product.soldOutPin !== undefined)
    problems.push(`stock: slot ${product.slot} has a sold-out switch, not a stock counter`);
  return problems.length > 0 ? { ok: false, problems } : { ok: true, product: parsed.data };
}

/**
 * The configuration with the overlay applied: changed products re-validated; entries for slots
 * the file no longer has are skipped and returned in `stale`. Throws {@link ConfigError} when a
 * change no longer fits its product (the file changed under it).
 */
export function applyOverlay(
  config: Config,
  overlay: Overlay,
): { config: Config; stale: number[] } {
  const slots = new Set(config.products.map((p) => p.slot));
  const stale = Object.keys(overlay.products)
    .map(Number)
    .filter((slot) => !slots.has(slot));
  const problems: string[] = [];
  const products = config.products.map((p) => {
    const change = overlay.products[String(p.slot)];
    if (!change) return p;
    const result = changedProduct(p, change);
    if (result.ok) return result.product;
    problems.push(...result.problems.map((m) => `overlay.json: slot ${p.slot}: ${m}`));
    return p;
  });
  if (problems.length > 0) throw new ConfigError(problems);
  return { config: deepFreeze({ ...config, products }), stale };
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
