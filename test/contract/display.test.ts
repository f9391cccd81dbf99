import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PNG } from 'pngjs';
import { startKiosk, type Kiosk } from '../../daemon/kiosk/index.js';
import type { Display } from '../../daemon/ports/display.js';
import { ManualClock, yieldToLoop } from '../../daemon/runtime/manual-clock.js';
import { FakeButtons } from '../../hardware/buttons/fake-buttons.js';
import { FakeDispenser } from '../../hardware/dispenser/fake-dispenser.js';
import { FakeDisplay } from '../../hardware/display/fake-display.js';
import { FramebufferDisplay } from '../../hardware/display/framebuffer-display.js';
import { PngDisplay } from '../../hardware/display/png-display.js';
import { TeeDisplay } from '../../hardware/display/tee-display.js';
import { TerminalDisplay } from '../../hardware/display/terminal-display.js';
import { FakePrinter } from '../../hardware/printer/fake-printer.js';
import { decodeQr, fakeFramebuffer, frameToRgba } from '../display/support.js';
import { describeDisplayContract } from './display.contract.js';

const GEOMETRY = { width: 320, height: 240, bitsPerPixel: 16, stride: 640 } as const;

const qrOfPng = (png: Buffer): string | undefined => {
  const image = PNG.sync.read(png);
  return decodeQr(image.data, image.width, image.height);
};

const settleLoop = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await yieldToLoop();
};

function tempDir(): string {
  return mkdtempSync(path.join(os.tmpdir(), 'seqr-display-contract-'));
}

/** A framebuffer on a file with a fake sysfs tree; retries run on a ManualClock. */
function framebufferSink(dir: string): {
  display: FramebufferDisplay;
  current: () => Promise<string | undefined>;
  break: () => Promise<void>;
  repair: () => Promise<void>;
  settle: () => Promise<void>;
} {
  const fb = fakeFramebuffer(dir, GEOMETRY);
  const clock = new ManualClock();
  const display = new FramebufferDisplay({ locale: 'en', clock, ...fb });
  return {
    display,
    current: () =>
      Promise.resolve(
        existsSync(fb.device)
          ? decodeQr(
              frameToRgba(readFileSync(fb.device), GEOMETRY),
              GEOMETRY.width,
              GEOMETRY.height,
            )
          : undefined,
      ),
    break: () => {
      rmSync(fb.device);
      return Promise.resolve();
    },
    repair: () => {
      writeFileSync(fb.device, Buffer.alloc(GEOMETRY.stride * GEOMETRY.height));
      return Promise.resolve();
    },
    settle: async () => {
      await clock.advanceAsync(60_000);
      await settleLoop();
    },
  };
}

/** The virtual kiosk's page over fake hardware; its frames read back over HTTP. */
async function kioskPage(): Promise<{ kiosk: Kiosk; current(): Promise<string | undefined> }> {
  const clock = new ManualClock();
  const kiosk = await startKiosk({
    host: '127.0.0.1',
    port: 0,
    locale: 'en',
    display: { width: GEOMETRY.width, height: GEOMETRY.height, rotation: 0 },
    products: [{ slot: 1, name: 'Product', price: '10.00 kr' }],
    buttons: new FakeButtons({ clock, slots: [1] }),
    dispenser: new FakeDispenser({ clock, slots: [1] }),
    printer: new FakePrinter({ clock }),
    logLines: { subscribe: () => () => undefined },
    clock,
  });
  return {
    kiosk,
    async current() {
      const res = await fetch(new URL('/frame.png', kiosk.url));
      if (res.status === 503) return undefined;
      return qrOfPng(Buffer.from(await res.arrayBuffer()));
    },
  };
}

describeDisplayContract('FakeDisplay', () => {
  const display = new FakeDisplay();
  const nameOf = (screen: (typeof display.screens)[number] | undefined): string | undefined =>
    screen && 'product' in screen ? screen.product.name : undefined;
  return Promise.resolve({
    display,
    current: () => Promise.resolve(nameOf(display.current)),
    frames: () => Promise.resolve(display.screens.flatMap((s) => nameOf(s) ?? [])),
    break: () => {
      display.failNext();
      return Promise.resolve();
    },
    repair: () => Promise.resolve(),
    settle: settleLoop,
  });
});

describeDisplayContract('FramebufferDisplay on a file (fake sysfs, 320x240 RGB565)', () => {
  const dir = tempDir();
  return Promise.resolve({
    ...framebufferSink(dir),
    dispose: () => {
      rmSync(dir, { recursive: true, force: true });
      return Promise.resolve();
    },
  });
});

describeDisplayContract('PngDisplay writing a file', () => {
  const dir = tempDir();
  const out = path.join(dir, 'out');
  mkdirSync(out);
  const file = path.join(out, 'screen.png');
  const frames: string[] = [];
  const display = new PngDisplay({
    locale: 'en',
    width: GEOMETRY.width,
    height: GEOMETRY.height,
    path: file,
    onFrame: (png) => frames.push(qrOfPng(png) ?? '?'),
  });
  return Promise.resolve({
    display,
    current: () => Promise.resolve(existsSync(file) ? qrOfPng(readFileSync(file)) : undefined),
    frames: () => Promise.resolve([...frames]),
    break: () => {
      rmSync(out, { recursive: true });
      return Promise.resolve();
    },
    repair: () => {
      mkdirSync(out);
      return Promise.resolve();
    },
    settle: settleLoop,
    dispose: () => {
      rmSync(dir, { recursive: true, force: true });
      return Promise.resolve();
    },
  });
});

describeDisplayContract('PngDisplay in memory', () => {
  const display = new PngDisplay({ locale: 'en', width: GEOMETRY.width, height: GEOMETRY.height });
  return Promise.resolve({
    display,
    current: () => Promise.resolve(display.latestPng && qrOfPng(display.latestPng)),
    settle: settleLoop,
  });
});

describeDisplayContract('TerminalDisplay', () => {
  const chunks: string[] = [];
  let broken = false;
  // What TerminalDisplay uses of a stream: write with a completion callback.
  const output = {
    write(chunk: string, done: (err?: Error | null) => void): boolean {
      if (broken) done(new Error('EIO: the terminal went away'));
      else {
        chunks.push(chunk);
        done();
      }
      return true;
    },
  } as unknown as NodeJS.WritableStream;
  const nameIn = (chunk: string | undefined): string | undefined =>
    chunk === undefined ? undefined : /Product \d+/.exec(chunk)?.[0];
  return Promise.resolve({
    display: new TerminalDisplay({ locale: 'en', output, clear: false }),
    current: () => Promise.resolve(nameIn(chunks.at(-1))),
    frames: () => Promise.resolve(chunks.flatMap((c) => nameIn(c) ?? [])),
    break: () => {
      broken = true;
      return Promise.resolve();
    },
    repair: () => {
      broken = false;
      return Promise.resolve();
    },
    settle: settleLoop,
  });
});

describeDisplayContract('the virtual kiosk page alone (demo mode)', async () => {
  const page = await kioskPage();
  return {
    display: page.kiosk.display,
    current: () => page.current(),
    settle: settleLoop,
    dispose: () => page.kiosk.close(),
  };
});

describeDisplayContract(
  'the kiosk tee: framebuffer on a file mirrored on the kiosk page',
  async () => {
    const dir = tempDir();
    const fb = framebufferSink(dir);
    const page = await kioskPage();
    const display: Display = new TeeDisplay([fb.display, page.kiosk.display]);
    return {
      display,
      // Both outputs must show the same screen.
      async current() {
        const [onFramebuffer, onPage] = [await fb.current(), await page.current()];
        return onFramebuffer === onPage
          ? onFramebuffer
          : `framebuffer ${String(onFramebuffer)}, page ${String(onPage)}`;
      },
      break: fb.break,
      repair: fb.repair,
      settle: fb.settle,
      dispose: async () => {
        await page.kiosk.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
);
