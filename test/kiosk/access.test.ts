// Who may use the virtual kiosk: Host and Origin with their port, loopback names only from this
// machine, a token beyond loopback. The remote cases connect through this machine's own network
// address (a non-loopback peer as the kiosk sees it) when it has one.
import {
  chmodSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { configSchema, type ConfigInput } from '../../config/schema.js';
import { DEMO_CONFIG_INPUT } from '../../config/demo.js';
import { startApp, type App } from '../../daemon/app.js';
import { errorCodeOf } from '../../daemon/errors.js';
import { KIOSK_TOKEN_FILE, kioskToken, tokenCookie } from '../../daemon/kiosk/access.js';
import { startKiosk, type Kiosk } from '../../daemon/kiosk/index.js';
import { ManualClock } from '../../daemon/runtime/manual-clock.js';
import { FakeButtons } from '../../hardware/buttons/fake-buttons.js';
import { FakeDispenser } from '../../hardware/dispenser/fake-dispenser.js';
import { FakePrinter } from '../../hardware/printer/fake-printer.js';
import { http, logHub, rigProducts, type HttpAnswer } from './support.js';

/** This machine's first non-loopback IPv4 address, if it has one. */
const lanAddress = Object.values(os.networkInterfaces())
  .flat()
  .find((i) => i !== undefined && i.family === 'IPv4' && !i.internal)?.address;

const TOKEN = 'k'.repeat(43);
let kiosk: Kiosk | undefined;
let buttons: FakeButtons;
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'seqr-kiosk-access-'));
});
afterEach(async () => {
  await kiosk?.close();
  kiosk = undefined;
  rmSync(dir, { recursive: true, force: true });
});

async function open(host: string, token?: string): Promise<{ port: number }> {
  const clock = new ManualClock(1_763_800_000_000);
  buttons = new FakeButtons({ clock, slots: [1, 2, 3] });
  kiosk = await startKiosk({
    host,
    ...(token === undefined ? {} : { token }),
    port: 0,
    locale: 'en',
    display: { width: 320, height: 240, rotation: 0 },
    products: rigProducts,
    buttons,
    dispenser: new FakeDispenser({ clock, slots: [1, 2, 3] }),
    printer: new FakePrinter({ clock }),
    logLines: logHub(),
    clock,
  });
  return { port: Number(new URL(kiosk.url).port) };
}

/** A request to `address:port` with the given Host and other headers. */
function request(
  address: string,
  port: number,
  method: string,
  route: string,
  headers: Record<string, string>,
  body?: unknown,
): Promise<HttpAnswer> {
  const host = address.includes(':') ? `[${address}]` : address;
  return http(`http://${host}:${String(port)}/`, method, route, {
    headers,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

const cancel = { button: { kind: 'cancel' } };

describe('loopback kiosk: Host and Origin with their port', () => {
  it('serves the loopback names with the right port only', async () => {
    const { port } = await open('127.0.0.1');
    const get = (host: string) => request('127.0.0.1', port, 'GET', '/api/state', { host });
    for (const host of [
      `localhost:${String(port)}`,
      `127.0.0.1:${String(port)}`,
      `[::1]:${String(port)}`,
    ])
      expect((await get(host)).status, host).toBe(200);
    for (const host of [
      'localhost',
      `localhost:${String(port + 1)}`,
      'localhost:80',
      `evil.example:${String(port)}`,
      `localhost:${String(port)}:1`,
    ])
      expect((await get(host)).status, host).toBe(403);
  });

  it('takes a POST only from its own origin, port included', async () => {
    const { port } = await open('127.0.0.1');
    const seen: unknown[] = [];
    buttons.subscribe((e) => seen.push(e.button));
    const host = `127.0.0.1:${String(port)}`;
    const post = (origin: string) =>
      request('127.0.0.1', port, 'POST', '/api/press', { host, origin }, cancel);
    // Another program on this machine (another port) is another origin.
    expect((await post(`http://127.0.0.1:${String(port + 1)}`)).status).toBe(403);
    expect((await post('http://127.0.0.1')).status).toBe(403);
    expect((await post(`https://127.0.0.1:${String(port)}`)).status).toBe(403);
    expect((await post(`http://localhost:${String(port)}`)).status).toBe(403);
    expect(seen).toEqual([]);
    expect((await post(`http://127.0.0.1:${String(port)}`)).status).toBe(204);
    await new Promise((r) => setImmediate(r));
    expect(seen).toEqual([{ kind: 'cancel' }]);
  });

  it('forbids framing: CSP frame-ancestors none and X-Frame-Options DENY', async () => {
    const { port } = await open('127.0.0.1');
    const page = await request('127.0.0.1', port, 'GET', '/', {
      host: `127.0.0.1:${String(port)}`,
    });
    expect(page.status).toBe(200);
    expect(page.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(page.headers['x-frame-options']).toBe('DENY');
    expect(page.headers['referrer-policy']).toBe('no-referrer');
  });

  it('needs no token on loopback', async () => {
    const { port } = await open('127.0.0.1');
    const page = await request('127.0.0.1', port, 'GET', '/', {
      host: `localhost:${String(port)}`,
    });
    expect(page.status).toBe(200);
  });
});

describe.skipIf(lanAddress === undefined)(
  `remote kiosk, from this machine's network address ${lanAddress ?? '(none: skipped)'}`,
  () => {
    const lan = lanAddress ?? '';

    it('Host: localhost from a network peer no longer gets in, with or without the token', async () => {
      const { port } = await open('0.0.0.0', TOKEN);
      const seen: unknown[] = [];
      buttons.subscribe((e) => seen.push(e.button));
      const local = `localhost:${String(port)}`;
      for (const headers of [
        { host: local },
        { host: local, authorization: `Bearer ${TOKEN}` },
        { host: `127.0.0.1:${String(port)}`, authorization: `Bearer ${TOKEN}` },
      ]) {
        expect((await request(lan, port, 'GET', '/api/state', headers)).status).toBe(403);
        const press = await request(
          lan,
          port,
          'POST',
          '/api/press',
          { ...headers, origin: `http://${local}` },
          cancel,
        );
        expect(press.status).toBe(403);
      }
      expect(seen).toEqual([]);
    });

    it('without the token: 401 for the page, the state, the stream and every button', async () => {
      const { port } = await open('0.0.0.0', TOKEN);
      const seen: unknown[] = [];
      buttons.subscribe((e) => seen.push(e.button));
      const host = `${lan}:${String(port)}`;
      for (const route of ['/', '/api/state', '/events', '/frame.png'])
        expect((await request(lan, port, 'GET', route, { host })).status, route).toBe(401);
      const wrong = 'x'.repeat(43);
      for (const headers of [
        { host },
        { host, authorization: `Bearer ${wrong}` },
        { host, cookie: `${tokenCookie(port)}=${wrong}` },
        { host, cookie: `${tokenCookie(port + 1)}=${TOKEN}` },
      ])
        expect((await request(lan, port, 'POST', '/api/press', headers, cancel)).status).toBe(401);
      expect((await request(lan, port, 'GET', `/?token=${wrong}`, { host })).status).toBe(401);
      expect(seen).toEqual([]);
    });

    it('with the token: /?token= sets the cookie and redirects; the cookie or a bearer header then works', async () => {
      const { port } = await open('0.0.0.0', TOKEN);
      const seen: unknown[] = [];
      buttons.subscribe((e) => seen.push(e.button));
      const host = `${lan}:${String(port)}`;
      const entry = await request(lan, port, 'GET', `/?token=${TOKEN}`, { host });
      expect(entry.status).toBe(303);
      expect(entry.headers['location']).toBe('/');
      const cookie = String(entry.headers['set-cookie']).split(';')[0] ?? '';
      expect(cookie).toBe(`${tokenCookie(port)}=${TOKEN}`);
      expect(String(entry.headers['set-cookie'])).toMatch(/HttpOnly; SameSite=Strict; Path=\//);

      expect((await request(lan, port, 'GET', '/', { host, cookie })).status).toBe(200);
      expect((await request(lan, port, 'GET', '/api/state', { host, cookie })).status).toBe(200);
      const origin = `http://${host}`;
      expect(
        (await request(lan, port, 'POST', '/api/press', { host, cookie, origin }, cancel)).status,
      ).toBe(204);
      const bearer = { host, authorization: `Bearer ${TOKEN}` };
      expect((await request(lan, port, 'POST', '/api/press', bearer, cancel)).status).toBe(204);
      // The token does not make another origin or another host name acceptable.
      expect(
        (
          await request(
            lan,
            port,
            'POST',
            '/api/press',
            { ...bearer, origin: 'http://evil.example' },
            cancel,
          )
        ).status,
      ).toBe(403);
      expect(
        (
          await request(lan, port, 'GET', '/api/state', {
            ...bearer,
            host: `evil.example:${String(port)}`,
          })
        ).status,
      ).toBe(403);
      await new Promise((r) => setImmediate(r));
      expect(seen).toEqual([{ kind: 'cancel' }, { kind: 'cancel' }]);
    });

    it('on this machine itself the loopback names work, with the token', async () => {
      const { port } = await open('0.0.0.0', TOKEN);
      const host = `localhost:${String(port)}`;
      expect((await request('127.0.0.1', port, 'GET', '/api/state', { host })).status).toBe(401);
      expect(
        (
          await request('127.0.0.1', port, 'GET', '/api/state', {
            host,
            authorization: `Bearer ${TOKEN}`,
          })
        ).status,
      ).toBe(200);
    });
  },
);

describe('kiosk token file', () => {
  it('is made once under the state directory, mode 0600, and read back after', async () => {
    const state = path.join(dir, 'state');
    const token = await kioskToken(state);
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const file = path.join(state, KIOSK_TOKEN_FILE);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8').trim()).toBe(token);
    expect(await kioskToken(state)).toBe(token);
  });

  it('refuses a token file others can read, one that is not a token, and a symbolic link', async () => {
    const file = path.join(dir, KIOSK_TOKEN_FILE);
    writeFileSync(file, `${TOKEN}\n`);
    chmodSync(file, 0o644);
    await expect(kioskToken(dir)).rejects.toThrow(
      `kiosk token ${file} is readable by group or others (mode 0644); run: chmod 600 ${file}`,
    );
    chmodSync(file, 0o600);
    expect(await kioskToken(dir)).toBe(TOKEN);
    writeFileSync(file, 'short');
    const garbage = await kioskToken(dir).catch((err: unknown) => err);
    expect(errorCodeOf(garbage)).toBe('E_CONFIG_INVALID');
    expect(String(garbage)).toContain('does not hold a kiosk token; delete it and restart');
    rmSync(file);
    symlinkSync('/etc/hostname', file);
    await expect(kioskToken(dir)).rejects.toThrow('is a symbolic link');
  });
});

describe('the daemon with kiosk.allowRemote', () => {
  let app: App | undefined;
  afterEach(async () => {
    await app?.stop();
    app = undefined;
  });

  it('requires the token it made, shows it in status only, never in the log', async () => {
    const input: ConfigInput = {
      ...DEMO_CONFIG_INPUT,
      kiosk: { enabled: true, host: '0.0.0.0', port: 0, allowRemote: true },
      log: { level: 'trace' },
    };
    const config = configSchema({
      stateDirectory: path.join(dir, 'state'),
      controlSocket: path.join(dir, 'control.sock'),
    }).parse(input);
    let log = '';
    app = await startApp({ config, env: {}, logDestination: { write: (l) => (log += l) } });
    const status = await app.status();
    const token = readFileSync(path.join(dir, 'state', KIOSK_TOKEN_FILE), 'utf8').trim();
    expect(status.kiosk?.token).toBe(token);
    expect(status.kiosk?.url).toMatch(/^http:\/\/0\.0\.0\.0:\d+\/$/);
    const port = Number(new URL(status.kiosk?.url ?? '').port);
    const host = `localhost:${String(port)}`;
    expect((await request('127.0.0.1', port, 'GET', '/api/state', { host })).status).toBe(401);
    expect(
      (
        await request('127.0.0.1', port, 'GET', '/api/state', {
          host,
          authorization: `Bearer ${token}`,
        })
      ).status,
    ).toBe(200);
    expect(log).toContain('virtual kiosk listening');
    expect(log).not.toContain(token);
  });
});
