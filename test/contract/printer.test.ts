import { execFileSync } from 'node:child_process';
import {
  constants,
  mkdtempSync,
  openSync,
  closeSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
  readSync,
  existsSync,
} from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { systemClock } from '../../daemon/ports/clock.js';
import { EscPosPrinter } from '../../hardware/printer/escpos-printer.js';
import { FakePrinter } from '../../hardware/printer/fake-printer.js';
import { ManualClock } from '../../daemon/runtime/manual-clock.js';
import { countJobs } from '../hardware/support/escpos-decoder.js';
import { describePrinterContract } from './printer.contract.js';

const DEADLINE = 1500;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describePrinterContract('FakePrinter', () => {
  const clock = new ManualClock();
  const printer = new FakePrinter({ clock, deadlineMs: DEADLINE });
  return Promise.resolve({
    printer,
    printed: () => Promise.resolve(printer.receipts.length),
    goOffline: () => {
      printer.setState('offline');
      return Promise.resolve();
    },
    stall: () => {
      printer.failNext('E_PRINTER_TIMEOUT');
      return Promise.resolve();
    },
    wait: (ms) => clock.advanceAsync(ms),
    deadlineMs: DEADLINE,
  });
});

describePrinterContract('EscPosPrinter on a USB capture file', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'seqr-lp-'));
  const device = path.join(dir, 'lp0');
  writeFileSync(device, '');
  const printer = new EscPosPrinter({
    clock: systemClock,
    device,
    deadlineMs: DEADLINE,
    statusTimeoutMs: 20,
  });
  return Promise.resolve({
    printer,
    printed: () => Promise.resolve(existsSync(device) ? countJobs(readFileSync(device)) : 0),
    goOffline: () => {
      rmSync(device);
      return Promise.resolve();
    },
    stall: undefined,
    wait: sleep,
    deadlineMs: DEADLINE,
    dispose: () => {
      rmSync(dir, { recursive: true, force: true });
      return Promise.resolve();
    },
  });
});

describePrinterContract('EscPosPrinter on a USB stand-in FIFO', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'seqr-fifo-'));
  const device = path.join(dir, 'lp0');
  execFileSync('mkfifo', [device]);
  // The "printer": a reader that consumes only when asked, so the pipe can fill (a stall).
  let reader: number | undefined = openSync(device, constants.O_RDONLY | constants.O_NONBLOCK);
  let received = Buffer.alloc(0);
  const drain = (): void => {
    if (reader === undefined) return;
    const chunk = Buffer.alloc(65536);
    for (;;) {
      let n: number;
      try {
        n = readSync(reader, chunk, 0, chunk.length, null);
      } catch {
        return;
      }
      if (n <= 0) return;
      received = Buffer.concat([received, chunk.subarray(0, n)]);
    }
  };
  const printer = new EscPosPrinter({
    clock: systemClock,
    device,
    deadlineMs: DEADLINE,
    statusTimeoutMs: 20,
  });
  return Promise.resolve({
    printer,
    printed: () => {
      drain();
      return Promise.resolve(countJobs(received));
    },
    goOffline: () => {
      // No reader: opening the FIFO for writing with O_NONBLOCK fails with ENXIO, like an unplugged printer.
      if (reader !== undefined) closeSync(reader);
      reader = undefined;
      return Promise.resolve();
    },
    stall: () => {
      drain();
      const w = openSync(device, constants.O_WRONLY | constants.O_NONBLOCK);
      const junk = Buffer.alloc(4096, 0x20);
      try {
        for (;;) writeSync(w, junk);
      } catch {
        // EAGAIN: the pipe is full
      } finally {
        closeSync(w);
      }
      return Promise.resolve();
    },
    wait: sleep,
    deadlineMs: DEADLINE,
    dispose: () => {
      if (reader !== undefined) closeSync(reader);
      rmSync(dir, { recursive: true, force: true });
      return Promise.resolve();
    },
  });
});

describePrinterContract(
  'EscPosPrinter on a loopback TCP printer (port 9100 stand-in)',
  async () => {
    let received = Buffer.alloc(0);
    const sockets = new Set<net.Socket>();
    const server = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('data', (chunk) => {
        // Answer DLE EOT 1 / 4 like an online printer with paper; keep everything else.
        if (chunk.length === 3 && chunk[0] === 0x10 && chunk[1] === 0x04)
          socket.write(Buffer.from([0x12]));
        else received = Buffer.concat([received, chunk]);
      });
      socket.on('error', () => undefined);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    const printer = new EscPosPrinter({
      clock: systemClock,
      device: `tcp://127.0.0.1:${port}`,
      deadlineMs: DEADLINE,
      statusTimeoutMs: 200,
    });
    return {
      printer,
      // The server reads asynchronously: count once every connection has ended.
      printed: async () => {
        for (let i = 0; i < 200 && sockets.size > 0; i++) await sleep(5);
        return countJobs(received);
      },
      goOffline: () =>
        new Promise<void>((r) => {
          for (const s of sockets) s.destroy();
          server.close(() => {
            r();
          });
        }),
      stall: undefined,
      wait: sleep,
      deadlineMs: DEADLINE,
      dispose: () =>
        new Promise<void>((r) => {
          for (const s of sockets) s.destroy();
          if (server.listening)
            server.close(() => {
              r();
            });
          else r();
        }),
    };
  },
);
