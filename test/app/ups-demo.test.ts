// Demo mode in UPS mode: the built-in simulator, a gateway endpoint in the daemon (no broker), and
// the kiosk page playing the payer: scan the machine's code, confirm, choose with the machine's
// buttons, done. Real clock, the composition root as `npm start` runs it.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DEMO_CONFIG_INPUT } from '../../config/demo.js';
import { configSchema } from '../../config/schema.js';
import { startApp, type App } from '../../daemon/app.js';
import { http } from '../kiosk/support.js';

let app: App | undefined;
let dir: string | undefined;
afterEach(async () => {
  await app?.stop();
  app = undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function until<T>(what: string, probe: () => T | undefined | false, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const json = (body: unknown) => ({
  body: JSON.stringify(body),
  headers: { 'content-type': 'application/json' },
});

describe('demo mode, pay first, then choose, played from the kiosk', () => {
  it('scan the code, confirm, take two products, done: the simulated SEQR commits exactly their total', async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'seqr-vend-ups-'));
    const config = configSchema({
      stateDirectory: path.join(dir, 'state'),
      controlSocket: path.join(dir, 'control.sock'),
    }).parse({
      ...DEMO_CONFIG_INPUT,
      kiosk: { enabled: true, host: '127.0.0.1', port: 0 },
      timeouts: { pollIntervalMs: 200, thankYouMs: 500, outcomeMs: 500 },
      ups: { merchantId: 'DEMO', maxCredit: '60' },
    });
    app = await startApp({ config, env: {}, logDestination: { write: () => true } });
    const kiosk = app.kiosk?.url;
    const sim = app.simulator;
    if (kiosk === undefined || !sim) throw new Error('demo mode with the kiosk');
    await until('idle', () => app?.runtime.state().kind === 'idle');
    const page = (await http(kiosk, 'GET', '/')).body.toString('utf8');
    expect(page).toContain('data-action="scanUps"');

    const scan = await http(kiosk, 'POST', '/api/customer', json({ action: 'scanUps' }));
    expect(scan.status).toBe(200);
    const ref = (JSON.parse(scan.body.toString('utf8')) as { invoiceReference: string })
      .invoiceReference;
    // The payer offered 100.00; the machine reserves at most its maxCredit.
    expect(sim.control.invoice(ref)).toMatchObject({ amount: { value: '60.00' } });
    expect((await http(kiosk, 'POST', '/api/customer', json({ action: 'pay' }))).status).toBe(200);
    const choosing = (): boolean => {
      const s = app?.runtime.state();
      return (
        s?.kind === 'session' &&
        s.session.kind === 'choosing' &&
        s.session.recorded &&
        s.session.running === undefined
      );
    };
    await until('the choose screen', choosing);
    await http(kiosk, 'POST', '/api/press', json({ button: { kind: 'product', slot: 1 } }));
    await until(
      'the first vend',
      () => app?.virtual?.dispenser.dispenses.length === 1 && choosing(),
    );
    await http(kiosk, 'POST', '/api/press', json({ button: { kind: 'product', slot: 3 } }));
    await until(
      'the second vend',
      () => app?.virtual?.dispenser.dispenses.length === 2 && choosing(),
    );
    await http(kiosk, 'POST', '/api/press', json({ button: { kind: 'cancel' } }));
    await until('the commit', () => sim.control.invoice(ref)?.committed);
    expect(sim.control.invoice(ref)).toMatchObject({ status: 'PAID', amount: { value: '40.00' } });
    // SEQR's notifications reached the daemon through its own gateway endpoint.
    await sim.control.callbacksSettled();
    expect(sim.control.notifications()).toContainEqual(
      expect.objectContaining({ invoiceReference: ref, status: 'RESERVED', httpStatus: 200 }),
    );
  }, 30_000);
});
