/**
 * The daemon's control socket, for `seqr-vend status`: a unix stream socket in the runtime
 * directory (`/run/seqr-vend/control.sock`), mode 0660, owned by the service user and group, so
 * root and members of the `seqr-vend` group can ask the running daemon for a snapshot.
 *
 * Protocol: the client sends one JSON line `{"command":"status"}`; the server answers one JSON
 * line `{"ok":true,"status":<snapshot>}` (or `{"ok":false,"error":"..."}`) and closes.
 */
import { promises as fs } from 'node:fs';
import net from 'node:net';
import { VendError } from '../errors.js';

/** Longest request accepted; anything longer is answered with an error and closed. */
const MAX_REQUEST_BYTES = 4_096;
/** A client that sends no complete request within this time is disconnected. */
const REQUEST_TIMEOUT_MS = 5_000;

export type ControlCommand = 'status';

export interface ControlServerOptions {
  /** Socket path. Its directory must exist (systemd's RuntimeDirectory=). */
  readonly path: string;
  /**
   * The snapshot returned for `status`: any JSON-serialisable value. Called once per request;
   * it must not contain secrets. A rejection is answered as `{ok:false,error:message}`.
   */
  readonly status: () => unknown;
  /** File mode of the socket. Default 0o660. */
  readonly mode?: number;
}

export interface ControlServer {
  readonly path: string;
  /** Stops accepting, ends open connections and removes the socket file. Idempotent. */
  close(): Promise<void>;
}

/**
 * Listens on `options.path`. A stale socket file left by a crashed daemon is replaced; a socket
 * another process still answers on makes this reject (E_CONFIG_INVALID: two daemons configured on
 * the same control socket).
 */
export async function startControlServer(options: ControlServerOptions): Promise<ControlServer> {
  await removeStaleSocket(options.path);
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.setTimeout(REQUEST_TIMEOUT_MS, () => socket.destroy());
    socket.on('error', () => socket.destroy());
    let buffer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      const newline = buffer.indexOf('\n');
      if (newline < 0) {
        if (buffer.length > MAX_REQUEST_BYTES)
          reply(socket, { ok: false, error: 'request too long' });
        return;
      }
      socket.removeAllListeners('data');
      void answer(buffer.slice(0, newline), options.status).then((response) => {
        reply(socket, response);
      });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.path, () => {
      server.off('error', reject);
      resolve();
    });
  });
  await fs.chmod(options.path, options.mode ?? 0o660);

  let closing: Promise<void> | undefined;
  return {
    path: options.path,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
        for (const socket of sockets) socket.destroy();
      }).then(() => fs.rm(options.path, { force: true }));
      return closing;
    },
  };
}

export type ControlResponse =
  { readonly ok: true; readonly status: unknown } | { readonly ok: false; readonly error: string };

async function answer(line: string, status: () => unknown): Promise<ControlResponse> {
  let request: unknown;
  try {
    request = JSON.parse(line);
  } catch {
    return { ok: false, error: 'request is not JSON' };
  }
  const command =
    typeof request === 'object' && request !== null
      ? (request as { command?: unknown }).command
      : undefined;
  if (command !== 'status')
    return { ok: false, error: `unknown command: ${JSON.stringify(command)}` };
  try {
    return { ok: true, status: await status() };
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err.message : 'status failed' };
  }
}

function reply(socket: net.Socket, response: ControlResponse): void {
  socket.end(`${JSON.stringify(response)}\n`);
}

async function removeStaleSocket(path: string): Promise<void> {
  try {
    await fs.lstat(path);
  } catch {
    return;
  }
  const alive = await new Promise<boolean>((resolve) => {
    const probe = net.connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => {
      resolve(false);
    });
  });
  if (alive)
    throw new VendError(
      'E_CONFIG_INVALID',
      `control socket ${path} is in use by another process (is seqr-vend already running?)`,
    );
  await fs.rm(path, { force: true });
}

/**
 * Asks the daemon listening on `path` for `command` (the CLI's `seqr-vend status`). Resolves with
 * the snapshot; rejects E_DAEMON_UNREACHABLE when nothing answers (not running, no permission,
 * no complete answer within `timeoutMs`) or the daemon reports an error.
 */
export function requestControl(
  path: string,
  command: ControlCommand = 'status',
  timeoutMs = 5_000,
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(path);
    let data = '';
    const fail = (message: string, cause?: unknown) => {
      socket.destroy();
      reject(new VendError('E_DAEMON_UNREACHABLE', message, cause === undefined ? {} : { cause }));
    };
    socket.setEncoding('utf8');
    socket.setTimeout(timeoutMs, () => {
      fail(`no answer from ${path} within ${timeoutMs} ms`);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      const why =
        err.code === 'ENOENT' || err.code === 'ECONNREFUSED'
          ? 'is seqr-vend running? (systemctl status seqr-vend)'
          : err.code === 'EACCES'
            ? 'permission denied: run as root or as a member of the seqr-vend group'
            : (err.code ?? err.message);
      fail(`cannot reach the daemon at ${path}: ${why}`, err);
    });
    socket.once('connect', () => {
      socket.write(`${JSON.stringify({ command })}\n`);
    });
    socket.on('data', (chunk: string) => {
      data += chunk;
    });
    socket.once('end', () => {
      let response: ControlResponse;
      try {
        response = JSON.parse(data) as ControlResponse;
      } catch (err) {
        fail(`the daemon at ${path} sent an unreadable answer`, err);
        return;
      }
      socket.destroy();
      if (response.ok) resolve(response.status);
      else reject(new VendError('E_DAEMON_UNREACHABLE', `the daemon answered: ${response.error}`));
    });
  });
}
