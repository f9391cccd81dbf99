// The virtual kiosk's HTTP API against the runtime, fake hardware and the SEQR simulator.
import { PNG } from 'pngjs';
import { afterEach, describe, expect, it } from 'vitest';
import type { ButtonEvent } from '../../daemon/ports/buttons.js';
import type { Screen } from '../../daemon/ports/display.js';
import { startKiosk, type Kiosk } from '../../daemon/kiosk/index.js';
import { ManualClock } from '../../daemon/runtime/manual-clock.js';
import { FakeButtons } from '../../hardware/buttons/fake-buttons.js';
import { FakeDispenser } from '../../hardware/dispenser/fake-dispenser.js';
import { ScreenRenderer } from '../../hardware/display/render.js';
import { FakePrinter } from '../../hardware/printer/fake-printer.js';
import {
  http,
  logHub,
  openEvents,
  post,
  rawExchange,
  rigProducts,
  startKioskRig,
  type KioskRig,
  type SseClient,
} from './support.js';

let rig: KioskRig | undefined;
let events: SseClient | undefined;
let bare: Kiosk | undefined;
afterEach(async () => {
  events?.close();
  events = undefined;
  await rig?.close();
  rig = undefined;
  await bare?.close();
  bare = undefined;
});

interface State {
  screen: Screen | null;
  frame: { seq: number; width: number; height: number; screen: string } | null;
  invoiceReference: string | null;
  relays: { slot: number; energised: boolean }[];
  drop: { next: string; last: { slot: number; outcome: string } | null };
  receipts: number;
}
const state = async (url: string): Promise<State> =>
  (await http(url, 'GET', '/api/state')).json() as State;

/** A kiosk with fakes only (no runtime), optionally without the simulator. */
async function bareKiosk(options: { dropWindowMs?: number } = {}): Promise<{
  kiosk: Kiosk;
  buttons: FakeButtons;
  dispenser: FakeDispenser;
}> {
  const clock = new ManualClock(1_763_800_000_000);
  const buttons = new FakeButtons({ clock, slots: [1, 2, 3] });
  const dispenser = new FakeDispenser({ clock, slots: [1, 2, 3], ...options });
  bare = await startKiosk({
    host: '127.0.0.1',
    port: 0,
    locale: 'en',
    display: { width: 320, height: 240, rotation: 0 },
    products: rigProducts,
    buttons,
    dispenser,
    printer: new FakePrinter({ clock }),
    logLines: logHub(),
    clock,
  });
  return { kiosk: bare, buttons, dispenser };
}

describe('virtual kiosk: page and routes', () => {
  it('serves one self-contained page with the product buttons, the cancel button and the app panel', async () => {
    rig = await startKioskRig();
    const res = await http(rig.url, 'GET', '/');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.headers['content-security-policy']).toContain("default-src 'none'");
    const html = res.body.toString('utf8');
    for (const p of rigProducts) {
      expect(html).toContain(`data-slot="${p.slot}"`);
      expect(html).toContain(p.name);
      expect(html).toContain(p.price);
    }
    expect(html).toContain('id="cancel"');
    for (const action of ['pay', 'cancelInApp', 'fail', 'payLate'])
      expect(html).toContain(`data-action="${action}"`);
    expect(html).toContain('image-rendering:pixelated');
    // Nothing is fetched from elsewhere: no external script, style, image or font.
    expect(html).not.toMatch(/(src|href)=["']?(https?:)?\/\//i);
    expect(html).not.toMatch(/@import|url\(/i);
  });

  it('answers unknown routes 404 and wrong methods 405, as JSON', async () => {
    rig = await startKioskRig();
    const missing = await http(rig.url, 'GET', '/nope');
    expect(missing.status).toBe(404);
    expect(missing.json()).toEqual({ error: 'no route GET /nope' });
    const wrong = await http(rig.url, 'GET', '/api/press');
    expect(wrong.status).toBe(405);
    expect(wrong.headers['allow']).toBe('POST');
    expect((await http(rig.url, 'DELETE', '/')).status).toBe(405);
  });

  it('refuses other host names (DNS rebinding) and cross-origin posts with 403', async () => {
    rig = await startKioskRig();
    const rebound = await http(rig.url, 'GET', '/api/state', {
      headers: { host: 'attacker.example:80' },
    });
    expect(rebound.status).toBe(403);
    const seen: ButtonEvent[] = [];
    rig.buttons.subscribe((e) => seen.push(e));
    const cross = await http(rig.url, 'POST', '/api/press', {
      body: JSON.stringify({ button: { kind: 'cancel' } }),
      headers: { origin: 'http://attacker.example' },
    });
    expect(cross.status).toBe(403);
    for (const origin of ['null', 'http://[bad', 'http://127.0.0.1.attacker.example']) {
      const odd = await http(rig.url, 'POST', '/api/press', {
        body: JSON.stringify({ button: { kind: 'cancel' } }),
        headers: { origin },
      });
      expect(odd.status).toBe(403);
    }
    const local = await http(rig.url, 'POST', '/api/press', {
      body: JSON.stringify({ button: { kind: 'cancel' } }),
      headers: { origin: rig.url.replace(/\/$/, ''), host: new URL(rig.url).host },
    });
    expect(local.status).toBe(204);
    await new Promise((r) => setImmediate(r));
    expect(seen.map((e) => e.button)).toEqual([{ kind: 'cancel' }]);
  });
});

describe('virtual kiosk: buttons', () => {
  it('POST /api/press presses the fake button: one pressed event per request', async () => {
    const { kiosk, buttons } = await bareKiosk();
    const seen: ButtonEvent[] = [];
    buttons.subscribe((e) => seen.push(e));
    expect(
      (await post(kiosk.url, '/api/press', { button: { kind: 'product', slot: 2 } })).status,
    ).toBe(204);
    expect((await post(kiosk.url, '/api/press', { button: { kind: 'cancel' } })).status).toBe(204);
    await new Promise((r) => setImmediate(r));
    expect(seen).toEqual([
      { type: 'pressed', button: { kind: 'product', slot: 2 }, at: 1_763_800_000_000 },
      { type: 'pressed', button: { kind: 'cancel' }, at: 1_763_800_000_000 },
    ]);
  });

  it.each([
    ['not JSON', '{"button":', /not valid JSON/],
    ['no button', '{}', /"button" must be an object/],
    ['a bad kind', '{"button":{"kind":"coin"}}', /"button.kind" must be "product" or "cancel"/],
    [
      'a fractional slot',
      '{"button":{"kind":"product","slot":1.5}}',
      /"button.slot" must be an integer/,
    ],
    [
      'a slot without a button',
      '{"button":{"kind":"product","slot":9}}',
      /no product button for slot 9/,
    ],
    ['a JSON null', 'null', /body must be/],
    [
      'an oversized body',
      JSON.stringify({ button: { kind: 'cancel' }, pad: 'x'.repeat(5000) }),
      /larger than 4096/,
    ],
  ])(
    'POST /api/press with %s: 400 with the reason, nothing pressed',
    async (_name, body, reason) => {
      const { kiosk, buttons } = await bareKiosk();
      const seen: ButtonEvent[] = [];
      buttons.subscribe((e) => seen.push(e));
      const res = await http(kiosk.url, 'POST', '/api/press', { body });
      expect(res.status).toBe(400);
      expect((res.json() as { error: string }).error).toMatch(reason);
      await new Promise((r) => setImmediate(r));
      expect(seen).toEqual([]);
    },
  );

  it('a body that is not declared JSON is refused with 400', async () => {
    const { kiosk } = await bareKiosk();
    const res = await http(kiosk.url, 'POST', '/api/press', {
      body: '{"button":{"kind":"cancel"}}',
      headers: { 'content-type': 'text/plain' },
    });
    expect(res.status).toBe(400);
    expect(res.json()).toEqual({ error: 'content-type must be application/json' });
  });

  it('survives garbage, a broken request line and a body cut off mid-way; the next request is served', async () => {
    const { kiosk } = await bareKiosk();
    expect(await rawExchange(kiosk.url, 'NOT HTTP AT ALL\r\n\r\n')).toMatch(/^HTTP\/1\.1 400/);
    const cut = await rawExchange(
      kiosk.url,
      'POST /api/press HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 100\r\nconnection: close\r\n\r\n{"button"',
    ).catch(() => '');
    expect(cut).not.toMatch(/^HTTP\/1\.1 2/);
    expect((await post(kiosk.url, '/api/press', { button: { kind: 'cancel' } })).status).toBe(204);
  });
});

describe('virtual kiosk: the customer app panel', () => {
  it('answers 503 when SEQR is external (no simulator) and 400 for an unknown action', async () => {
    const { kiosk } = await bareKiosk();
    const res = await post(kiosk.url, '/api/customer', { action: 'pay' });
    expect(res.status).toBe(503);
    expect((res.json() as { error: string }).error).toMatch(/external/);
    const bad = await post(kiosk.url, '/api/customer', { action: 'steal' });
    expect(bad.status).toBe(400);
    expect((bad.json() as { error: string }).error).toMatch(/"action" must be one of "pay"/);
  });

  it('answers 409 when no invoice is open', async () => {
    rig = await startKioskRig();
    for (const action of ['pay', 'cancelInApp', 'fail', 'payLate']) {
      const res = await post(rig.url, '/api/customer', { action });
      expect(res.status).toBe(409);
      expect((res.json() as { error: string }).error).toMatch(/press a product button first/);
    }
  });

  it('a whole purchase through the API: press, pay in the app, relay, receipt, thank you, all pushed as events', async () => {
    rig = await startKioskRig();
    events = await openEvents(rig.url);
    await events.waitFor((e) => e.type === 'frame' && e.data['screen'] === 'idle');
    expect(
      (await post(rig.url, '/api/press', { button: { kind: 'product', slot: 1 } })).status,
    ).toBe(204);
    await rig.advanceIo(200);
    const ref = rig.activeRef();
    const payFrame = await events.waitFor((e) => e.type === 'frame' && e.data['screen'] === 'pay');
    expect(payFrame.data['invoiceReference']).toBe(ref);
    expect((await state(rig.url)).screen).toMatchObject({
      kind: 'pay',
      qrPayload: `HTTP://SEQR.SE/R${ref}`,
    });

    const paid = await post(rig.url, '/api/customer', { action: 'pay' });
    expect(paid.status).toBe(200);
    expect(paid.json()).toEqual({ invoiceReference: ref });
    expect(rig.sim.control.invoice(ref)?.status).toBe('PAID');
    await rig.advanceIo(3000);

    expect(rig.dispenser.dispenses.map((d) => d.slot)).toEqual([1]);
    const on = await events.waitFor((e) => e.type === 'relay' && e.data['energised'] === true);
    expect(on.data).toMatchObject({ slot: 1 });
    await events.waitFor((e) => e.type === 'relay' && e.data['energised'] === false);
    const receipt = await events.waitFor((e) => e.type === 'receipt');
    const ers = rig.sim.control.invoice(ref)?.ersReference;
    expect(receipt.data).toMatchObject({
      invoiceReference: ref,
      ersReference: ers,
      productName: 'Cola',
    });
    const text = String(receipt.data['text']);
    expect(text).toContain('CORNER CAFE');
    expect(text).toContain('25,00 kr');
    expect(text.replace(/\s+/g, '')).toContain(String(ers));
    expect(Math.max(...text.split('\n').map((l) => l.length))).toBeLessThanOrEqual(32);
    await events.waitFor((e) => e.type === 'frame' && e.data['screen'] === 'thankYou');
    const log = await events.waitFor(
      (e) => e.type === 'log' && String(e.data['line']).includes('"to":"dispensing"'),
    );
    expect(JSON.parse(String(log.data['line']))).toMatchObject({
      msg: 'state changed',
      invoiceReference: ref,
    });
    const s = await state(rig.url);
    expect(s.receipts).toBe(1);
    expect(s.relays).toEqual([
      { slot: 1, energised: false },
      { slot: 2, energised: false },
      { slot: 3, energised: false },
    ]);
    expect(rig.sim.control.invoice(ref)).toMatchObject({ committed: true, reversed: false });
  });

  it.each([
    ['cancelInApp', 'cancelledInApp', 'CANCELED'],
    ['fail', 'paymentFailed', 'FAILED'],
  ])(
    '%s in the app: the simulator invoice goes %s, the display shows the problem, no relay',
    async (action, problem, status) => {
      rig = await startKioskRig();
      events = await openEvents(rig.url);
      await post(rig.url, '/api/press', { button: { kind: 'product', slot: 2 } });
      await rig.advanceIo(200);
      const ref = rig.activeRef();
      const res = await post(rig.url, '/api/customer', { action });
      expect(res.json()).toEqual({ invoiceReference: ref });
      expect(rig.sim.control.invoice(ref)?.status).toBe(status);
      await rig.advanceIo(1500);
      expect((await state(rig.url)).screen).toEqual({ kind: 'problem', problem });
      await events.waitFor((e) => e.type === 'frame' && e.data['screen'] === 'problem');
      expect(events.events.filter((e) => e.type === 'relay')).toEqual([]);
      expect(rig.dispenser.dispenses).toEqual([]);
    },
  );

  it('pay too late: the customer confirms just as the machine cancels; the payment still sells once', async () => {
    rig = await startKioskRig();
    await post(rig.url, '/api/press', { button: { kind: 'product', slot: 3 } });
    await rig.advanceIo(1200);
    const ref = rig.activeRef();
    const late = await post(rig.url, '/api/customer', { action: 'payLate' });
    expect(late.json()).toEqual({ invoiceReference: ref });
    expect(rig.sim.control.invoice(ref)?.status).toBe('ISSUED');
    await rig.advanceIo(2000);
    expect(rig.dispenser.dispenses).toEqual([]);
    await post(rig.url, '/api/press', { button: { kind: 'cancel' } });
    await rig.advanceIo(3000);
    expect(rig.sim.control.invoice(ref)).toMatchObject({
      status: 'PAID',
      committed: true,
      reversed: false,
    });
    expect(rig.dispenser.dispenses.map((d) => d.slot)).toEqual([3]);
    expect(rig.printer.receipts.map((r) => r.invoiceReference)).toEqual([ref]);
  });

  it('pay too late after the machine has cancelled: SEQR refuses it with 409, nothing moves', async () => {
    rig = await startKioskRig();
    await post(rig.url, '/api/press', { button: { kind: 'product', slot: 1 } });
    await rig.advanceIo(1200);
    const ref = rig.activeRef();
    await post(rig.url, '/api/press', { button: { kind: 'cancel' } });
    await rig.advanceIo(2000);
    expect(rig.sim.control.invoice(ref)?.status).toBe('CANCELED');
    const res = await post(rig.url, '/api/customer', { action: 'payLate' });
    expect(res.status).toBe(409);
    expect((res.json() as { error: string }).error).toBe(
      `cannot pay invoice ${ref}: it is CANCELED`,
    );
    await rig.advanceIo(2000);
    expect(rig.dispenser.dispenses).toEqual([]);
  });
});

describe('virtual kiosk: drop sensor', () => {
  it('scripts the next dispense as not delivered: the relay pulses, nothing drops, the customer is refunded', async () => {
    rig = await startKioskRig();
    events = await openEvents(rig.url);
    const scripted = await post(rig.url, '/api/drop', { next: 'notDelivered' });
    expect(scripted.status).toBe(200);
    expect(scripted.json()).toEqual({ next: 'notDelivered' });
    await events.waitFor((e) => e.type === 'drop' && e.data['next'] === 'notDelivered');
    // Already armed: the same request is idempotent; undoing it is refused.
    expect((await post(rig.url, '/api/drop', { next: 'notDelivered' })).status).toBe(200);
    const undo = await post(rig.url, '/api/drop', { next: 'delivered' });
    expect(undo.status).toBe(409);
    expect((undo.json() as { error: string }).error).toMatch(/cannot be undone/);

    await post(rig.url, '/api/press', { button: { kind: 'product', slot: 1 } });
    await rig.advanceIo(200);
    const ref = rig.activeRef();
    await post(rig.url, '/api/customer', { action: 'pay' });
    await rig.advanceIo(4000);
    expect(rig.dispenser.dispenses.map((d) => d.slot)).toEqual([1]);
    await events.waitFor((e) => e.type === 'relay' && e.data['energised'] === true);
    const after = await events.waitFor((e) => e.type === 'drop' && e.data['last'] !== null);
    expect(after.data).toEqual({
      next: 'delivered',
      last: { slot: 1, outcome: 'notDelivered', at: expect.any(Number) as number },
    });
    await events.waitFor((e) => e.type === 'frame' && e.data['screen'] === 'notDelivered');
    expect(rig.sim.control.invoice(ref)?.refunds).toHaveLength(1);
    expect(rig.printer.receipts).toEqual([]);

    // The script was used up: the next purchase delivers.
    await rig.advanceIo(8000, 500);
    await post(rig.url, '/api/press', { button: { kind: 'product', slot: 2 } });
    await rig.advanceIo(200);
    await post(rig.url, '/api/customer', { action: 'pay' });
    await rig.advanceIo(4000);
    expect((await state(rig.url)).drop).toMatchObject({
      next: 'delivered',
      last: { slot: 2, outcome: 'delivered' },
    });
    expect(rig.printer.receipts).toHaveLength(1);
  });

  it('rejects a bad script with 400 and a missed drop without a drop sensor with 409', async () => {
    const { kiosk } = await bareKiosk();
    const bad = await post(kiosk.url, '/api/drop', { next: 'maybe' });
    expect(bad.status).toBe(400);
    expect((bad.json() as { error: string }).error).toMatch(
      /"next" must be one of "delivered", "notDelivered"/,
    );
    const none = await post(kiosk.url, '/api/drop', { next: 'notDelivered' });
    expect(none.status).toBe(409);
    expect((none.json() as { error: string }).error).toMatch(/drop sensor/);
  });
});

describe('virtual kiosk: the mirrored display', () => {
  const decode = (png: Buffer): PNG => PNG.sync.read(png);
  const samePixels = (png: PNG, rgba: Uint8Array): boolean => {
    for (let i = 0; i < rgba.length; i += 4)
      if (
        png.data[i] !== rgba[i] ||
        png.data[i + 1] !== rgba[i + 1] ||
        png.data[i + 2] !== rgba[i + 2]
      )
        return false;
    return true;
  };

  it('the frame is the framebuffer renderer picture, pixel for pixel, served at /frame.png and pushed once per change', async () => {
    rig = await startKioskRig();
    events = await openEvents(rig.url);
    await post(rig.url, '/api/press', { button: { kind: 'product', slot: 1 } });
    await rig.advanceIo(200);
    const s = await state(rig.url);
    expect(s.screen?.kind).toBe('pay');
    const res = await http(rig.url, 'GET', '/frame.png');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('image/png');
    const png = decode(res.body);
    expect([png.width, png.height]).toEqual([320, 240]);
    const expected = new ScreenRenderer({ width: 320, height: 240, locale: 'en' }).render(
      s.screen!,
    );
    expect(samePixels(png, expected.rgba)).toBe(true);
    const pushed = await events.waitFor(
      (e) => e.type === 'frame' && e.data['seq'] === s.frame?.seq,
    );
    expect(Buffer.from(String(pushed.data['png']), 'base64').equals(res.body)).toBe(true);

    // The countdown changes the picture each second; no change, no frame.
    const frames = (): number => events!.events.filter((e) => e.type === 'frame').length;
    const before = frames();
    await rig.advanceIo(1000);
    await events.waitFor((e) => e.type === 'frame' && Number(e.data['seq']) > s.frame!.seq);
    expect(frames()).toBe(before + 1);
    await rig.kiosk.display.show((await state(rig.url)).screen!);
    // A later event on the same stream: everything sent before it has arrived.
    await post(rig.url, '/api/drop', { next: 'notDelivered' });
    await events.waitFor((e) => e.type === 'drop' && e.data['next'] === 'notDelivered');
    expect(frames()).toBe(before + 1);
    const seqs = events.events.filter((e) => e.type === 'frame').map((e) => Number(e.data['seq']));
    expect(new Set(seqs).size).toBe(seqs.length);
  });

  it('draws nothing while nobody watches: screens and countdown ticks cost no frame until a page or a request asks', async () => {
    rig = await startKioskRig();
    await post(rig.url, '/api/press', { button: { kind: 'product', slot: 1 } });
    await rig.advanceIo(200);
    await rig.advanceIo(3000);
    // Idle, "one moment", pay and three ticks were shown; only the screen asked for is drawn.
    const s = await state(rig.url);
    expect(s.screen?.kind).toBe('pay');
    expect(s.frame).toMatchObject({ seq: 1, screen: 'pay' });
    const expected = new ScreenRenderer({ width: 320, height: 240, locale: 'en' }).render(
      s.screen!,
    );
    expect(samePixels(decode((await http(rig.url, 'GET', '/frame.png')).body), expected.rgba)).toBe(
      true,
    );
    await rig.advanceIo(1000);
    events = await openEvents(rig.url);
    // The tick shown before the page opened is drawn for it; from then on every change is.
    const opened = await events.waitFor((e) => e.type === 'frame' && e.data['seq'] === 2);
    expect(opened.data['screen']).toBe('pay');
    await rig.advanceIo(1000);
    await events.waitFor((e) => e.type === 'frame' && e.data['seq'] === 3);
  });

  it('a panel turned 90 degrees is mirrored as the customer sees it (portrait), and new streams get the current state first', async () => {
    rig = await startKioskRig({ display: { width: 320, height: 480, rotation: 90 } });
    const page = (await http(rig.url, 'GET', '/')).body.toString('utf8');
    expect(page).toContain('width="320" height="480"');
    const png = decode((await http(rig.url, 'GET', '/frame.png')).body);
    expect([png.width, png.height]).toEqual([320, 480]);
    const s = await state(rig.url);
    expect(
      samePixels(
        png,
        new ScreenRenderer({ width: 320, height: 480, locale: 'en' }).render(s.screen!).rgba,
      ),
    ).toBe(true);
    events = await openEvents(rig.url);
    const first = await events.waitFor((e) => e.type === 'frame');
    expect(first.data).toMatchObject({
      screen: 'idle',
      width: 320,
      height: 480,
      seq: s.frame?.seq,
    });
    expect(events.events.some((e) => e.type === 'log')).toBe(true);
    expect(events.events.find((e) => e.type === 'drop')?.data).toEqual({
      next: 'delivered',
      last: null,
    });
  });

  it('/frame.png before any screen: 503; close() ends the event streams and stops listening', async () => {
    const { kiosk } = await bareKiosk();
    const none = await http(kiosk.url, 'GET', '/frame.png');
    expect(none.status).toBe(503);
    events = await openEvents(kiosk.url);
    await kiosk.close();
    await events.ended;
    await expect(http(kiosk.url, 'GET', '/')).rejects.toThrow(/ECONNREFUSED/);
  });
});
