import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import net from 'node:net';
import type { Clock, TimerHandle } from '../../daemon/ports/clock.js';
import { VendError } from '../../daemon/errors.js';

/**
 * Moves ESC/POS bytes to a printer. `send` resolves once every byte was accepted by the device
 * (the kernel driver or the printer's TCP stack); it rejects E_PRINTER_OFFLINE, E_PRINTER_PAPER_OUT
 * or E_PRINTER_TIMEOUT, and after it rejects no byte of that job is handed on any more: the fd
 * or socket is closed (USB: closing kills usblp's in-flight URB; TCP: reset, which drops the
 * kernel's send queue). `query` sends a real-time status request and returns the reply, or
 * undefined when the printer does not answer in time (unidirectional printers never do).
 */
export interface PrinterTransport {
  send(bytes: Buffer, deadlineMs: number): Promise<void>;
  query(request: Buffer, replyBytes: number, deadlineMs: number): Promise<Buffer | undefined>;
}

const OFFLINE_CODES = new Set(['ENOENT', 'ENODEV', 'ENXIO', 'EIO', 'EACCES', 'EPERM', 'ENOTDIR']);

function mapUsbError(err: unknown, path: string): VendError {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  if (code === 'ENOSPC')
    return new VendError('E_PRINTER_PAPER_OUT', `${path}: out of paper`, { cause: err });
  if (OFFLINE_CODES.has(code))
    return new VendError('E_PRINTER_OFFLINE', `${path}: printer absent or not writable (${code})`, {
      cause: err,
      retryable: true,
    });
  return new VendError('E_PRINTER_OFFLINE', `${path}: write failed (${code || 'error'})`, {
    cause: err,
    retryable: true,
  });
}

function sleep(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimeout(resolve, ms));
}

/**
 * A USB printer character device (`/dev/usb/lp0`, or a udev symlink such as
 * `/dev/receipt-printer`), opened per job with O_NONBLOCK: usblp then answers EAGAIN instead of
 * blocking a libuv threadpool thread forever on a printer without paper. Partial writes and
 * EAGAIN are retried every `retryMs` until the deadline.
 */
export class UsbTransport implements PrinterTransport {
  constructor(
    private readonly path: string,
    private readonly clock: Clock,
    private readonly retryMs = 5,
  ) {}

  async send(bytes: Buffer, deadlineMs: number): Promise<void> {
    const deadline = this.clock.now() + deadlineMs;
    let fh: FileHandle;
    try {
      fh = await open(
        this.path,
        constants.O_WRONLY | constants.O_APPEND | constants.O_NONBLOCK | constants.O_NOCTTY,
      );
    } catch (err) {
      throw mapUsbError(err, this.path);
    }
    try {
      let offset = 0;
      while (offset < bytes.length) {
        let written = 0;
        try {
          ({ bytesWritten: written } = await fh.write(bytes, offset, bytes.length - offset));
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw mapUsbError(err, this.path);
        }
        offset += written;
        if (offset >= bytes.length) break;
        if (this.clock.now() >= deadline)
          throw new VendError(
            'E_PRINTER_TIMEOUT',
            `${this.path}: ${bytes.length - offset} of ${bytes.length} bytes not accepted within ${deadlineMs} ms`,
            { retryable: true },
          );
        if (written === 0) await sleep(this.clock, this.retryMs);
      }
    } finally {
      await fh.close().catch(() => undefined);
    }
  }

  async query(
    request: Buffer,
    replyBytes: number,
    deadlineMs: number,
  ): Promise<Buffer | undefined> {
    const deadline = this.clock.now() + deadlineMs;
    let fh: FileHandle;
    try {
      fh = await open(this.path, constants.O_RDWR | constants.O_NONBLOCK | constants.O_NOCTTY);
    } catch (err) {
      throw mapUsbError(err, this.path);
    }
    try {
      try {
        const { bytesWritten } = await fh.write(request);
        if (bytesWritten !== request.length) return undefined;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return undefined;
        throw mapUsbError(err, this.path);
      }
      const reply = Buffer.alloc(replyBytes);
      let got = 0;
      while (got < replyBytes && this.clock.now() < deadline) {
        try {
          const { bytesRead } = await fh.read(reply, got, replyBytes - got, null);
          got += bytesRead;
          if (bytesRead > 0) continue;
        } catch (err) {
          // EINVAL: a unidirectional printer; EAGAIN: no answer yet.
          if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') return undefined;
        }
        await sleep(this.clock, this.retryMs);
      }
      return got === replyBytes ? reply : undefined;
    } finally {
      await fh.close().catch(() => undefined);
    }
  }
}

/** A network printer's raw port (JetDirect / AppSocket, 9100). One connection per job. */
export class TcpTransport implements PrinterTransport {
  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly clock: Clock,
  ) {}

  send(bytes: Buffer, deadlineMs: number): Promise<void> {
    return this.#session(deadlineMs, (socket, done) => {
      socket.end(bytes, () => {
        done();
      });
    });
  }

  query(request: Buffer, replyBytes: number, deadlineMs: number): Promise<Buffer | undefined> {
    return this.#session<Buffer | undefined>(
      deadlineMs,
      (socket, done) => {
        let reply = Buffer.alloc(0);
        socket.on('data', (chunk: Buffer) => {
          reply = Buffer.concat([reply, chunk]);
          if (reply.length >= replyBytes) done(reply.subarray(0, replyBytes));
        });
        socket.on('end', () => {
          done(undefined);
        });
        socket.write(request);
      },
      true,
    );
  }

  /**
   * Connects, runs `body`, and settles once. On the deadline or an error the socket is reset
   * (RST), which discards whatever the kernel still holds for the printer.
   */
  #session<T = void>(
    deadlineMs: number,
    body: (socket: net.Socket, done: (value: T) => void) => void,
    answerOnTimeout = false,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const socket = net.connect({ host: this.host, port: this.port });
      const finish = (fn: () => void): void => {
        if (settled) return;
        settled = true;
        this.clock.clearTimeout(timer);
        fn();
      };
      const timer: TimerHandle = this.clock.setTimeout(() => {
        finish(() => {
          socket.resetAndDestroy();
          if (answerOnTimeout && socket.readyState === 'open') resolve(undefined as T);
          else
            reject(
              new VendError(
                'E_PRINTER_TIMEOUT',
                `${this.host}:${this.port}: job not accepted within ${deadlineMs} ms`,
                { retryable: true },
              ),
            );
        });
      }, deadlineMs);
      socket.once('error', (err: NodeJS.ErrnoException) => {
        finish(() => {
          socket.destroy();
          reject(
            new VendError(
              'E_PRINTER_OFFLINE',
              `${this.host}:${this.port}: ${err.code ?? err.message}`,
              {
                cause: err,
                retryable: true,
              },
            ),
          );
        });
      });
      socket.once('connect', () => {
        body(socket, (value) => {
          finish(() => {
            socket.destroy();
            resolve(value);
          });
        });
      });
    });
  }
}
