// The virtual kiosk end to end in headless Chromium: the whole demo daemon (startApp), the page
// driven by clicks, the QR read back from a screenshot with a real decoder.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import jsQRModule from 'jsqr';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { PNG } from 'pngjs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_CONFIG_INPUT } from '../../config/demo.js';
import { configSchema, type ConfigInput } from '../../config/schema.js';
import { startApp, type App } from '../../daemon/app.js';
import type { RelayEdge } from '../../hardware/dispenser/fake-dispenser.js';

// jsqr is CommonJS with an ES-style `export default` in its typings.
const jsQR = jsQRModule.default;

const CHROMIUM = '/usr/bin/chromium';
/** Without these Chromium waits on network look-ups and services a closed CI network never answers. */
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--force-color-profile=srgb',
];
const SCREENSHOT = path.resolve('test-results/virtual-kiosk.png');

const dirs: string[] = [];
let context: BrowserContext | undefined;
let app: App | undefined;

function tempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

async function startDemo(
  kiosk: ConfigInput['kiosk'] = { enabled: true, host: '127.0.0.1', port: 0 },
): Promise<{ app: App; url: string; edges: RelayEdge[] }> {
  const dir = tempDir('seqr-vend-kiosk-');
  const config = configSchema({
    stateDirectory: path.join(dir, 'state'),
    controlSocket: path.join(dir, 'control.sock'),
  }).parse({ ...DEMO_CONFIG_INPUT, kiosk });
  app = await startApp({ config, env: {}, logDestination: { write: () => true } });
  if (!app.kiosk || !app.simulator || !app.virtual)
    throw new Error('demo mode must bring the kiosk, the simulator and the virtual hardware');
  const edges: RelayEdge[] = [];
  app.virtual.dispenser.onRelay((edge) => edges.push(edge));
  return { app, url: app.kiosk.url, edges };
}

/** The display element's screenshot, taken while the picture did not change underneath it. */
async function displayShot(page: Page): Promise<{ shot: Buffer; frame: Buffer }> {
  const display = page.locator('#display');
  for (let attempt = 0; ; attempt++) {
    const before = await display.getAttribute('src');
    const box = await display.boundingBox();
    if (!box) throw new Error('the display element is not visible');
    const shot = await page.screenshot({
      clip: { x: Math.round(box.x), y: Math.round(box.y), width: box.width, height: box.height },
      animations: 'disabled',
      scale: 'css',
    });
    const after = await display.getAttribute('src');
    if ((before === after && before !== null) || attempt === 5) {
      const frame = Buffer.from(String(after).replace(/^data:image\/png;base64,/, ''), 'base64');
      return { shot, frame };
    }
  }
}

describe.skipIf(!existsSync(CHROMIUM))(
  `virtual kiosk in headless Chromium (skipped when ${CHROMIUM} is absent: apt-get install chromium)`,
  () => {
    beforeAll(async () => {
      context = await chromium.launchPersistentContext(tempDir('seqr-vend-chromium-'), {
        executablePath: CHROMIUM,
        headless: true,
        args: CHROMIUM_ARGS,
        viewport: { width: 1400, height: 1000 },
        deviceScaleFactor: 1,
      });
    }, 60_000);

    afterEach(async () => {
      await app?.stop();
      app = undefined;
    });

    afterAll(async () => {
      await context?.close();
      for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
    });

    it('buys a product: QR decoded from the page matches the invoice, paid in the app panel, relay and receipt shown', async () => {
      const { app, url, edges } = await startDemo();
      const sim = app.simulator!;
      const page = await context!.newPage();
      await page.goto(url);
      await page.locator('#display[data-screen="idle"]').waitFor();

      await page.locator('button[data-slot="1"]').click();
      await page.locator('#display[data-screen="pay"]').waitFor();
      const invoice = sim.control.activeInvoice();
      expect(invoice).toBeDefined();
      const ref = invoice!.reference;

      const { shot, frame } = await displayShot(page);
      const picture = PNG.sync.read(shot);
      expect([picture.width, picture.height]).toEqual([800, 480]);
      // Pixel for pixel: what the browser shows is the frame the renderer produced.
      const mirrored = PNG.sync.read(frame);
      let differing = 0;
      for (let i = 0; i < picture.data.length; i += 4)
        if (
          picture.data[i] !== mirrored.data[i] ||
          picture.data[i + 1] !== mirrored.data[i + 1] ||
          picture.data[i + 2] !== mirrored.data[i + 2]
        )
          differing++;
      expect(differing).toBe(0);
      const qr = jsQR(new Uint8ClampedArray(picture.data), picture.width, picture.height);
      expect(qr?.data).toBe(`HTTP://SEQR.SE/R${ref}`);

      await expect.poll(() => page.locator('#app-pay').isEnabled()).toBe(true);
      await page.locator('#app-pay').click();
      await page.locator('#display[data-screen="thankYou"]').waitFor({ timeout: 15_000 });

      const paid = sim.control.invoice(ref);
      expect(paid).toMatchObject({ status: 'PAID', committed: true });
      const receipt = page.locator(`.paper[data-invoice="${ref}"]`);
      await receipt.waitFor();
      const text = await receipt.innerText();
      expect(text).toContain('Cola 33 cl');
      expect(text).toContain('25,00 kr');
      expect(text.replace(/\s+/g, '')).toContain(paid!.ersReference!);
      expect(text).toContain('SEQR payment');

      expect(edges.map((e) => [e.slot, e.energised])).toEqual([
        [1, true],
        [1, false],
      ]);
      await expect
        .poll(() => page.locator('#relay-log li').allInnerTexts())
        .toEqual([
          expect.stringMatching(/slot 1 +relay ON$/),
          expect.stringMatching(/slot 1 +relay off$/),
        ]);
      await expect.poll(() => page.locator('#journal li').count()).toBeGreaterThan(5);

      mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
      writeFileSync(SCREENSHOT, await page.screenshot({ fullPage: true }));
      await page.close();
    }, 60_000);

    it('cancels: the cancel button closes the invoice at SEQR, nothing is dispensed or printed', async () => {
      const { app, url, edges } = await startDemo();
      const sim = app.simulator!;
      const page = await context!.newPage();
      await page.goto(url);
      await page.locator('#display[data-screen="idle"]').waitFor();

      await page.locator('button[data-slot="2"]').click();
      await page.locator('#display[data-screen="pay"]').waitFor();
      const ref = sim.control.activeInvoice()!.reference;
      await page.locator('#cancel').click();
      await page.locator('#display[data-screen="cancelled"]').waitFor({ timeout: 15_000 });
      expect(sim.control.invoice(ref)?.status).toBe('CANCELED');
      await page.locator('#display[data-screen="idle"]').waitFor({ timeout: 15_000 });
      expect(edges).toEqual([]);
      expect(app.virtual!.printer.receipts).toEqual([]);
      expect(await page.locator('.paper').count()).toBe(0);
      // The app panel has nothing to act on once the invoice is gone.
      expect(await page.locator('#app-pay').isDisabled()).toBe(true);
      await page.close();
    }, 60_000);

    const lan = Object.values(os.networkInterfaces())
      .flat()
      .find((i) => i !== undefined && i.family === 'IPv4' && !i.internal)?.address;
    it.skipIf(lan === undefined)(
      'remote kiosk: refused without the token; opened with it, the page streams and presses through its cookie',
      async () => {
        const { app } = await startDemo({
          enabled: true,
          host: '0.0.0.0',
          port: 0,
          allowRemote: true,
        });
        const status = await app.status();
        const port = new URL(status.kiosk!.url).port;
        const base = `http://${lan!}:${port}/`;
        const page = await context!.newPage();
        const refused = await page.goto(base);
        expect(refused?.status()).toBe(401);
        await page.goto(`${base}?token=${status.kiosk!.token!}`);
        expect(page.url()).toBe(base);
        await page.locator('#display[data-screen="idle"]').waitFor();
        await page.locator('button[data-slot="3"]').click();
        await page.locator('#display[data-screen="pay"]').waitFor();
        expect(app.simulator!.control.activeInvoice()).toBeDefined();
        await page.close();
      },
      60_000,
    );
  },
);
