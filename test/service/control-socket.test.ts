import { mkdtempSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  requestControl,
  startControlServer,
  type ControlServer,
} from '../../daemon/service/control-socket.js';

let dir: string;
let server: ControlServer | undefined;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'seqr-ctl-'));
});
afterEach(async () => {
  await server?.close();
  server = undefined;
  rmSync(dir, { recursive: true, force: true });
});

function rawRequest(socketPath: string, payload: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath, () => socket.write(payload));
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (data += chunk));
    socket.once('end', () => {
      resolve(data);
    });
    socket.once('error', reject);
  });
}

describe('control socket', () => {
  it('answers status with the provider snapshot over a real unix socket with mode 0660', async () => {
    const socketPath = path.join(dir, 'control.sock');
    let calls = 0;
    server = await startControlServer({
      path: socketPath,
      status: () => ({ state: 'idle', products: 4, call: ++calls }),
    });
    const st = statSync(socketPath);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o660);
    expect(st.uid).toBe(process.getuid!());
    expect(await requestControl(socketPath)).toEqual({ state: 'idle', products: 4, call: 1 });
    expect(await requestControl(socketPath)).toEqual({ state: 'idle', products: 4, call: 2 });
  });

  it('reports a provider failure and unknown commands as errors', async () => {
    const socketPath = path.join(dir, 'control.sock');
    server = await startControlServer({
      path: socketPath,
      status: () => Promise.reject(new Error('ledger busy')),
    });
    await expect(requestControl(socketPath)).rejects.toMatchObject({
      code: 'E_DAEMON_UNREACHABLE',
      message: 'the daemon answered: ledger busy',
    });
    expect(JSON.parse(await rawRequest(socketPath, '{"command":"reboot"}\n'))).toEqual({
      ok: false,
      error: 'unknown command: "reboot"',
    });
    expect(JSON.parse(await rawRequest(socketPath, 'nonsense\n'))).toEqual({
      ok: false,
      error: 'request is not JSON',
    });
  });

  it('replaces a stale socket file but refuses one a live daemon answers on', async () => {
    const socketPath = path.join(dir, 'control.sock');
    const stale = net.createServer();
    await new Promise<void>((resolve) => stale.listen(socketPath, resolve));
    await expect(startControlServer({ path: socketPath, status: () => 1 })).rejects.toMatchObject({
      code: 'E_CONFIG_INVALID',
    });
    // Simulate a crash: the file stays behind with nobody listening.
    const { promises } = await import('node:fs');
    await new Promise<void>((resolve) => {
      stale.close(() => {
        resolve();
      });
    });
    writeFileSync(socketPath, '');
    await promises.chmod(socketPath, 0o600);
    server = await startControlServer({ path: socketPath, status: () => 'fresh' });
    expect(await requestControl(socketPath)).toBe('fresh');
  });

  it('removes the socket on close, and the client then says the daemon is not running', async () => {
    const socketPath = path.join(dir, 'control.sock');
    server = await startControlServer({ path: socketPath, status: () => 1 });
    await server.close();
    await server.close();
    expect(existsSync(socketPath)).toBe(false);
    await expect(requestControl(socketPath)).rejects.toThrow(/is seqr-vend running\?/);
  });
});
