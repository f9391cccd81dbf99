// The terminal password never reaches any output: the real daemon process, logging at trace level
// with the soap package's debug output on (DEBUG=node-soap*), runs purchases, SEQR faults, an HTML
// 500 and a SOAP fault that echo the request (password included) and an authentication failure
// against the simulator, and everything it wrote (stdout, stderr, the kiosk page and its event
// stream, receipts, `status --json`, the ledger file) is searched for the password in every form
// it could take.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TERMINAL_PASSWORD_CREDENTIAL, writeCredential } from '../../config/credentials.js';
import { DEMO_CONFIG_INPUT } from '../../config/demo.js';
import { startSimulator, type SeqrSimulator } from '../../simulator/index.js';
import { startEchoRelay, type EchoRelay } from './echo-relay.js';

const MAIN = path.resolve('dist/daemon/main.js');
const SECRET = 'Tp-9fQ2xLw7-secret-Zk4';
/** The forms a leak could take: as is, JSON-escaped, base64, URL-encoded. */
const FORMS = [SECRET, Buffer.from(SECRET).toString('base64'), encodeURIComponent(SECRET)];

let dir: string;
let sim: SeqrSimulator;
let relay: EchoRelay;
let daemon: ChildProcess | undefined;
let output = '';
let kioskUrl = '';
let events = '';
let eventsRequest: http.ClientRequest | undefined;

function waitFor(what: string, test: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const tick = (): void => {
      if (test()) resolve();
      else if (Date.now() > end) reject(new Error(`timed out waiting for ${what}\n${output}`));
      else setTimeout(tick, 25);
    };
    tick();
  });
}

async function api(route: string, body?: unknown): Promise<{ status: number; text: string }> {
  const res = await fetch(new URL(route, kioskUrl), {
    method: body === undefined ? 'GET' : 'POST',
    ...(body === undefined
      ? {}
      : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
  });
  return { status: res.status, text: await res.text() };
}

async function idle(): Promise<void> {
  const end = Date.now() + 20_000;
  while (Date.now() < end) {
    const state = JSON.parse((await api('/api/state')).text) as { screen?: { kind?: string } };
    if (state.screen?.kind === 'idle') return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`the idle screen never came back\n${output}`);
}

async function purchase(slot: number): Promise<string> {
  await idle();
  await api('/api/press', { button: { kind: 'product', slot } });
  await waitFor('an invoice', () => sim.control.activeInvoice() !== undefined);
  const reference = sim.control.activeInvoice()?.reference ?? '';
  sim.control.pay(reference);
  await waitFor('the receipt', () => sim.control.invoice(reference)?.receipts === 1);
  return reference;
}

describe.skipIf(!existsSync(MAIN))('no secret in any output of a full daemon run', () => {
  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'seqr-vend-secrets-'));
    sim = await startSimulator({
      host: '127.0.0.1',
      port: 0,
      terminal: { id: 'a1b2c3d4e5f60718293a4b5c6d7e8f90', password: SECRET },
    });
    relay = await startEchoRelay(sim.soapUrl);
    const credentials = path.join(dir, 'credentials');
    await writeCredential(credentials, TERMINAL_PASSWORD_CREDENTIAL, SECRET);
    const config = {
      ...DEMO_CONFIG_INPUT,
      seqr: { endpoint: relay.url, terminalId: sim.terminal.id },
      credentialsDirectory: credentials,
      stateDirectory: path.join(dir, 'state'),
      control: { socketPath: path.join(dir, 'control.sock') },
      kiosk: { enabled: true, host: '127.0.0.1', port: 0 },
      log: { level: 'trace' },
      timeouts: {
        pollIntervalMs: 200,
        thankYouMs: 500,
        outcomeMs: 500,
        outOfServiceRetryMs: 1_000,
      },
    };
    writeFileSync(path.join(dir, 'config.yaml'), JSON.stringify(config));
    daemon = spawn(process.execPath, [MAIN, '--config', path.join(dir, 'config.yaml')], {
      env: { PATH: process.env['PATH'] ?? '', DEBUG: 'node-soap*' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    daemon.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    daemon.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    await waitFor('ready', () => output.includes('"msg":"ready"'));
    kioskUrl = /"url":"([^"]+)"/.exec(output)?.[1] ?? '';
    eventsRequest = http.get(new URL('/events', kioskUrl), (res) => {
      res.on('data', (chunk: Buffer) => (events += chunk.toString()));
    });
    eventsRequest.on('error', () => undefined);
  }, 60_000);

  afterAll(async () => {
    eventsRequest?.destroy();
    if (daemon && daemon.exitCode === null) {
      daemon.kill('SIGTERM');
      await new Promise((r) => daemon?.once('exit', r));
    }
    await relay.close();
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('sells, survives faults and a refused password, and never shows the password', async () => {
    await purchase(1);

    // Faults on the way: a reset poll, an HTTP 500, a SOAP fault, a malformed answer.
    const faults = [
      { kind: 'reset' },
      { kind: 'http', status: 500 },
      { kind: 'soapFault' },
      { kind: 'malformed' },
    ] as const;
    for (const [i, fault] of faults.entries()) {
      sim.control.injectFault('getPaymentStatus', fault, { times: 1 });
      await purchase([3, 4, 1, 4][i] ?? 1);
    }

    // Broken answers that echo the request, password included: an HTML 500, a SOAP fault.
    await idle();
    await api('/api/press', { button: { kind: 'product', slot: 2 } });
    await waitFor('an invoice', () => sim.control.activeInvoice() !== undefined);
    relay.echoNext('html500', 'fault');
    await waitFor('both echoes', () => relay.echoed() === 2);
    const echoedRef = sim.control.activeInvoice()?.reference ?? '';
    sim.control.pay(echoedRef);
    await waitFor('the receipt', () => sim.control.invoice(echoedRef)?.receipts === 1);

    // SEQR refuses the password (changed at SEQR): out of service, logged with E_SEQR_AUTH.
    sim.control.addTerminal({ id: sim.terminal.id, password: 'another-password-entirely' });
    await idle();
    await api('/api/press', { button: { kind: 'product', slot: 3 } });
    await waitFor('the auth failure', () => output.includes('E_SEQR_AUTH'));
    sim.control.addTerminal({ id: sim.terminal.id, password: SECRET });

    const status = spawnSync(
      process.execPath,
      [MAIN, 'status', '--json', '--config', path.join(dir, 'config.yaml')],
      { encoding: 'utf8' },
    );
    expect(status.status).toBe(0);
    const page = await api('/');
    const state = await api('/api/state');
    daemon?.kill('SIGTERM');
    await new Promise((r) => daemon?.once('exit', r));

    expect(state.text).toContain('receipts');
    expect(events).toContain('event: receipt');
    const ledgerFiles = readdirSync(path.join(dir, 'state')).map((f) =>
      readFileSync(path.join(dir, 'state', f)).toString('latin1'),
    );
    const everything = [
      output,
      events,
      page.text,
      state.text,
      status.stdout,
      status.stderr,
      ...ledgerFiles,
    ].join('\n');
    for (const form of FORMS) expect(everything).not.toContain(form);
    // The run did exercise what matters: sales, faults, and the refused password.
    expect(output).toContain('E_SEQR_AUTH');
    expect(output).toMatch(/E_SEQR_(UNREACHABLE|HTTP|FAULT|MALFORMED)/);
    expect(sim.control.invoices().filter((i) => i.status === 'PAID')).toHaveLength(6);
    // The soap debug output was on, and carried the echoed bodies with the password replaced.
    expect(output).toContain('node-soap Http response body');
    expect(output).toContain('500 Internal Server Error');
    expect(output).toContain('[REDACTED]');
  }, 120_000);
});
