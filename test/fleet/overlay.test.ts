// Remote catalogue changes: validated with the configuration's product schema, stored durably in
// the state directory, applied over the file at the next start.
import { writeFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { applyOverlay, overlayPath, readOverlay } from '../../config/overlay.js';
import { configSchema, type Config } from '../../config/schema.js';
import { Catalog } from '../../daemon/fleet/catalog.js';
import { tempDir } from './support.js';

let dir: string;
let remove: () => void;
beforeEach(() => {
  ({ dir, remove } = tempDir());
});
afterEach(() => {
  remove();
});

function config(): Config {
  return configSchema({ stateDirectory: dir, controlSocket: `${dir}/c.sock` }).parse({
    mode: 'demo',
    machine: { name: 'm' },
    merchant: { name: 'x' },
    products: [
      { slot: 1, name: 'Cola', price: '25.00', buttonPin: 5, relayPin: 17, stock: 3 },
      { slot: 2, name: 'Bar', price: '15.00', buttonPin: 6, relayPin: 27, soldOutPin: 20 },
    ],
    buttons: { cancelPin: 26 },
    stateDirectory: dir,
  });
}

describe('catalogue overlay', () => {
  it('stores a change durably and applies it over the file at the next start', async () => {
    const catalog = new Catalog(config());
    const slot = await catalog.change(1, { price: '19.50', name: 'Cola Zero' });
    expect(slot).toMatchObject({
      slot: 1,
      price: '19.50',
      priceMinor: 1950,
      name: 'Cola Zero',
      stock: 3,
    });
    await catalog.refill(1, 12, 1_000);
    await catalog.change(2, { enabled: false });
    await catalog.setMaintenance(true);
    expect(readOverlay(dir).refilledAt).toEqual({ '1': 1_000 });

    const { config: next, stale } = applyOverlay(config(), readOverlay(dir));
    expect(stale).toEqual([]);
    expect(next.products.map((p) => [p.slot, p.name, p.priceMinor, p.stock, p.enabled])).toEqual([
      [1, 'Cola Zero', 1950, 12, true],
      [2, 'Bar', 1500, undefined, false],
    ]);
    expect(Object.isFrozen(next.products[0])).toBe(true);
    const restarted = new Catalog(next);
    expect(restarted.maintenance).toBe(true);
  });

  it('refuses what the configuration could not hold, and changes nothing', async () => {
    const catalog = new Catalog(config());
    await expect(catalog.change(1, { price: '0.00' })).rejects.toMatchObject({
      code: 'E_FLEET_COMMAND_INVALID',
    });
    await expect(catalog.change(1, { price: '1.005' })).rejects.toMatchObject({
      code: 'E_FLEET_COMMAND_INVALID',
    });
    await expect(catalog.change(1, { name: ' ' })).rejects.toMatchObject({
      code: 'E_FLEET_COMMAND_INVALID',
    });
    await expect(catalog.change(2, { stock: 5 })).rejects.toMatchObject({
      code: 'E_FLEET_COMMAND_INVALID',
      message: expect.stringMatching(/sold-out switch/) as unknown,
    });
    await expect(catalog.change(7, { price: '1.00' })).rejects.toMatchObject({
      code: 'E_FLEET_COMMAND_REFUSED',
    });
    expect(readOverlay(dir)).toEqual({
      version: 1,
      products: {},
      maintenance: false,
      refilledAt: {},
    });
  });

  it('refuses to start on a damaged overlay rather than guess prices', () => {
    writeFileSync(overlayPath(dir), '{"version":1,"products":{"1":{"price":12}}}');
    expect(() => readOverlay(dir)).toThrow(/products\.1\.price/);
    writeFileSync(overlayPath(dir), '{not json');
    expect(() => readOverlay(dir)).toThrow(
      expect.objectContaining({ code: 'E_CONFIG_INVALID' }) as Error,
    );
  });

  it('skips changes for slots the file no longer has', () => {
    writeFileSync(
      overlayPath(dir),
      '{"version":1,"products":{"9":{"price":"1.00"}},"maintenance":false}',
    );
    expect(applyOverlay(config(), readOverlay(dir)).stale).toEqual([9]);
  });
});
