/**
 * Who may use the virtual kiosk. On loopback (the default) only this machine can connect; with
 * `kiosk.allowRemote` the page is served beyond it and every request must carry the kiosk token
 * (a cookie set by opening `/?token=...`, or `Authorization: Bearer ...`). In both cases the Host
 * header must name this server with its port (loopback names only from a loopback peer, so
 * `Host: localhost` from the shop network is refused) and a POST's Origin must be this server's
 * own origin, port included.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { constants, promises as fs } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { isLoopbackHost } from '../../config/schema.js';
import { VendError } from '../errors.js';

/** The file under the state directory that holds the kiosk token. */
export const KIOSK_TOKEN_FILE = 'kiosk-token';
const TOKEN_FORM = /^[A-Za-z0-9_-]{43}$/;

/**
 * The kiosk token stored in `stateDirectory`, created on first use (32 random bytes, base64url,
 * mode 0600). Rejects E_CONFIG_INVALID when the file exists but group or others may read it, is
 * not a regular file, or does not hold a token; the message says how to fix it.
 */
export async function kioskToken(stateDirectory: string): Promise<string> {
  const file = path.join(stateDirectory, KIOSK_TOKEN_FILE);
  const refuse = (why: string): VendError =>
    new VendError('E_CONFIG_INVALID', `kiosk token ${file} ${why}`);
  await fs.mkdir(stateDirectory, { recursive: true, mode: 0o750 });
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') throw refuse('is a symbolic link; delete it and restart');
    if (code !== 'ENOENT') throw refuse(`cannot be read (${code ?? 'error'})`);
    const token = randomBytes(32).toString('base64url');
    const created = await fs.open(file, 'wx', 0o600);
    try {
      await created.writeFile(`${token}\n`);
      await created.sync();
    } finally {
      await created.close();
    }
    return token;
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw refuse('is not a regular file');
    if ((st.mode & 0o077) !== 0)
      throw refuse(
        `is readable by group or others (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}); ` +
          `run: chmod 600 ${file}`,
      );
    const token = (await handle.readFile('utf8')).trim();
    if (!TOKEN_FORM.test(token))
      throw refuse('does not hold a kiosk token; delete it and restart (a new one is made)');
    return token;
  } finally {
    await handle.close();
  }
}

/** Why a request is refused: the HTTP status and the message. */
export interface Refusal {
  readonly status: 401 | 403;
  readonly message: string;
}

export interface AccessOptions {
  /** The configured host the server listens on (`0.0.0.0` or `::` for every interface). */
  readonly host: string;
  /** The port the server listens on (the real one, after `listen`). */
  readonly port: number;
  /** The token every request must carry; undefined on loopback. */
  readonly token?: string;
}

/** The cookie that carries the token, per port (cookies do not tell ports apart). */
export function tokenCookie(port: number): string {
  return `seqr-kiosk-${String(port)}`;
}

/**
 * Checks one request: Host (name and port), the token when one is required, and a POST's Origin.
 * Returns undefined when the request may proceed.
 */
export function checkAccess(req: IncomingMessage, options: AccessOptions): Refusal | undefined {
  const peerLocal = isLoopbackHost(req.socket.remoteAddress ?? '');
  const host = splitHost(req.headers.host);
  if (host === undefined || !portMatches(host.port, options.port))
    return { status: 403, message: `host ${JSON.stringify(req.headers.host)} is not served here` };
  if (!hostAllowed(host.name, peerLocal, options.host))
    return { status: 403, message: `host ${JSON.stringify(req.headers.host)} is not served here` };
  if (options.token !== undefined && !carriesToken(req, options.token, options.port))
    return {
      status: 401,
      message:
        'this kiosk needs its token: open the address with ?token=... that `seqr-vend status` shows',
    };
  if (req.method === 'POST') {
    const origin = req.headers.origin;
    if (
      origin !== undefined &&
      origin.toLowerCase() !== `http://${req.headers.host ?? ''}`.toLowerCase()
    )
      return {
        status: 403,
        message: `cross-origin request from ${JSON.stringify(origin)} refused`,
      };
  }
  return undefined;
}

/** The token given in the query of `url`, when it is the right one. */
export function queryToken(url: string, token: string): boolean {
  const given = new URL(url, 'http://kiosk').searchParams.get('token');
  return given !== null && same(given, token);
}

function carriesToken(req: IncomingMessage, token: string, port: number): boolean {
  const auth = req.headers.authorization;
  if (auth?.startsWith('Bearer ') && same(auth.slice('Bearer '.length), token)) return true;
  const name = tokenCookie(port);
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [key, ...value] = part.trim().split('=');
    if (key === name && same(value.join('='), token)) return true;
  }
  return req.method === 'GET' && queryToken(req.url ?? '/', token);
}

function same(given: string, token: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** `name[:port]` or `[v6][:port]` -> parts; undefined when malformed. */
function splitHost(header: string | undefined): { name: string; port?: number } | undefined {
  if (header === undefined) return undefined;
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]+))(?::(\d{1,5}))?$/.exec(header);
  if (!match) return undefined;
  const name = (match[1] ?? match[2] ?? '').toLowerCase();
  return match[3] === undefined ? { name } : { name, port: Number(match[3]) };
}

function portMatches(given: number | undefined, port: number): boolean {
  return given === undefined ? port === 80 : given === port;
}

const WILDCARD = new Set(['0.0.0.0', '::', '::0']);

function hostAllowed(name: string, peerLocal: boolean, bound: string): boolean {
  if (isLoopbackHost(name)) return peerLocal;
  const configured = bound.toLowerCase();
  if (name === configured) return true;
  const hostname = os.hostname().toLowerCase();
  if (name === hostname || name === `${hostname}.local`) return true;
  // Listening on every interface: any of this machine's own addresses.
  return (
    WILDCARD.has(configured) &&
    Object.values(os.networkInterfaces()).some((list) =>
      (list ?? []).some((i) => i.address.toLowerCase() === name),
    )
  );
}
