// The composition root end to end in demo mode: the real SQLite ledger, the SOAP client against
// the in-process simulator over loopback, the virtual hardware, the control socket. Real clock
// with short windows (the runtime's timing is proven with the ManualClock elsewhere).
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { PNG } from 'pngjs';
import { afterEach, describe, expect, it } from 'vitest';
import { TERMINAL_PASSWORD_CREDENTIAL, writeCredential } from '../../config/credentials.js';
import { DEMO_CONFIG_INPUT } from '../../config/demo.js';
import { configSchema, type Config, type ConfigInput } from '../../config/schema.js';
import { startApp, statusLine, type App } from '../../daemon/app.js';
import { formatStatus, runCli } from '../../daemon/cli/cli.js';
import { errorCodeOf } from '../../daemon/errors.js';
import { SqliteLedger, ledgerPath } from '../../daemon/ledger/sqlite-ledger.js';
import { startSimulator } from '../../simulator/index.js';
import { decodeQr, fakeFramebuffer, frameToRgba } from '../display/support.js';
import { http } from '../kiosk/support.js';

const dirs: string[] = [];
const apps: App[] = [];

afterEach(async () => {
  for (const app of apps.splice(0)) await app.stop().catch(() => undefined);
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'seqr-vend-app-'));
  dirs.push(dir);
  return dir;
}

function config(dir: string, extra: Partial<ConfigInput> = {}): Config {
  return configSchema({
    stateDirectory: path.join(dir, 'state'),
    controlSocket: path.join(dir, 'control.sock'),
  }).parse({
    ...DEMO_CONFIG_INPUT,
    kiosk: { enabled: false },
    timeouts: { pollIntervalMs: 200, thankYouMs: 500, outcomeMs: 500, paymentWindowMs: 5_000 },
    ...extra,
  });
}

/** Writes `input` (the demo config plus overrides) as `dir/config.yaml` (JSON is YAML). */
function configFile(dir: string, overrides: Partial<ConfigInput> = {}): string {
  const file = path.join(dir, 'config.yaml');
  writeFileSync(file, JSON.stringify({ ...DEMO_CONFIG_INPUT, ...overrides }));
  return file;
}

function lines(): { write(chunk: string): void; text(): string } {
  let all = '';
  return {
    write(chunk) {
      all += chunk;
    },
    text: () => all,
  };
}

async function until<T>(what: string, probe: () => T | undefined, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function start(cfg: Config, log = lines()): Promise<App> {
  const app = await startApp({ config: cfg, env: {}, logDestination: log });
  apps.push(app);
  return app;
}

describe('startApp in demo mode', () => {
  it('sells: button, invoice at SEQR, payment, one relay pulse, receipt, ledger closed sold', async () => {
    const dir = tempDir();
    const log = lines();
    const app = await start(config(dir), log);
    const sim = app.simulator;
    const hw = app.virtual;
    if (!sim || !hw) throw new Error('demo mode must bring the simulator and virtual hardware');
    expect(app.runtime.state().kind).toBe('idle');

    hw.buttons.press({ kind: 'product', slot: 1 });
    const invoice = await until('an invoice at SEQR', () => sim.control.activeInvoice());
    expect(invoice.amount).toEqual({ value: '25.00', currency: 'SEK' });
    sim.control.pay(invoice.reference);
    await until('the thank-you', () => hw.printer.receipts.length === 1);

    expect(hw.dispenser.dispenses.map((d) => d.slot)).toEqual([1]);
    expect(sim.control.invoice(invoice.reference)?.status).toBe('PAID');
    await until('idle again', () => app.runtime.state().kind === 'idle');
    const status = await app.status();
    expect(status).toMatchObject({
      mode: 'demo',
      state: 'idle',
      status: 'idle',
      today: { sales: 1, totalMinor: 2500, currency: 'SEK' },
      seqr: { reachable: true, lastError: null },
      printer: 'ready',
    });
    await app.stop();
    const ledger = SqliteLedger.open({
      path: ledgerPath(app.config.stateDirectory),
      readonly: true,
    });
    try {
      const [view] = ledger.transactions();
      expect(view).toMatchObject({
        invoiceReference: invoice.reference,
        dispense: 'delivered',
        receipt: 'printed',
        closed: 'sold',
      });
    } finally {
      await ledger.close();
    }
    // One info line per transition names the transaction; the terminal password never appears.
    expect(log.text()).toContain('"msg":"ready"');
    expect(log.text()).toContain(invoice.reference);
    expect(log.text()).not.toContain(sim.terminal.password);
  });

  it('records every relay edge with its transaction and invoice, synced before the pulse', async () => {
    const dir = tempDir();
    const recordFile = path.join(dir, 'relays.jsonl');
    const app = await start(config(dir, { virtual: { recordFile } }));
    const sim = app.simulator;
    const hw = app.virtual;
    if (!sim || !hw) throw new Error('demo mode');
    hw.buttons.press({ kind: 'product', slot: 3 });
    const invoice = await until('an invoice', () => sim.control.activeInvoice());
    sim.control.pay(invoice.reference);
    await until('the receipt', () => hw.printer.receipts.length === 1);
    const edges = readFileSync(recordFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(edges).toEqual([
      expect.objectContaining({ slot: 3, energised: true, invoiceReference: invoice.reference }),
      expect.objectContaining({ slot: 3, energised: false, invoiceReference: invoice.reference }),
    ]);
  });

  it('a refund that failed before a restart is retried at start, then only after its backoff, never refunded twice', async () => {
    const sim = await startSimulator({ host: '127.0.0.1', port: 0 });
    try {
      const dir = tempDir();
      const credentials = path.join(dir, 'credentials');
      await writeCredential(credentials, TERMINAL_PASSWORD_CREDENTIAL, sim.terminal.password);
      const cfg = config(dir, {
        seqr: { endpoint: sim.soapUrl, terminalId: sim.terminal.id },
        credentialsDirectory: credentials,
      });
      const refundCalls = (): number =>
        sim.control.calls().filter((c) => c.op === 'refundPayment').length;
      // Connection resets: the outcome of each attempt is unknown, nothing is refunded at SEQR.
      sim.control.injectFault('refundPayment', { kind: 'reset' }, { times: 2 });

      const first = await start(cfg);
      first.virtual?.dispenser.nextResult(undefined, { outcome: 'notDelivered', reason: 'noDrop' });
      first.virtual?.buttons.press({ kind: 'product', slot: 1 });
      const invoice = await until('an invoice', () => sim.control.activeInvoice());
      sim.control.pay(invoice.reference);
      await until('the failed refund', () => first.ledger.transactions()[0]?.refund === 'failed');
      await first.stop();
      expect(refundCalls()).toBe(1);

      // Start-up recovery retries it at once (and fails again); the next attempt waits for its
      // backoff (a minute after two attempts), not for the next restart or the next event.
      const second = await start(cfg);
      await new Promise((r) => setTimeout(r, 1_500));
      expect(refundCalls()).toBe(2);
      const view = second.ledger.transactions()[0];
      expect(view).toMatchObject({
        refund: 'failed',
        refundAttempts: 2,
        refundFailure: { code: 'E_SEQR_UNREACHABLE', operation: 'refundPayment' },
      });
      expect(view?.closed).toBeUndefined();
      expect(second.runtime.state().background.jobs).toMatchObject([
        { txId: view?.txId, attempts: 2, initiator: 'retry' },
      ]);
      expect(sim.control.invoice(invoice.reference)?.refunds).toEqual([]);
    } finally {
      await sim.close();
    }
  });

  it('opens the kiosk on a free port when the configured one is taken (demo only)', async () => {
    const squatter = createServer();
    await new Promise<void>((r) => squatter.listen(0, '127.0.0.1', r));
    const taken = (squatter.address() as { port: number }).port;
    try {
      const log = lines();
      const app = await start(
        config(tempDir(), { kiosk: { enabled: true, host: '127.0.0.1', port: taken } }),
        log,
      );
      const url = new URL(app.kiosk?.url ?? '');
      expect(Number(url.port)).not.toBe(taken);
      expect((await fetch(url)).status).toBe(200);
      expect(log.text()).toContain('kiosk port in use');
    } finally {
      squatter.close();
    }
  });

  it('with the kiosk on, the configured framebuffer still gets every frame and the page mirrors it', async () => {
    const dir = tempDir();
    const geometry = { width: 800, height: 480, bitsPerPixel: 16, stride: 1600 } as const;
    const fb = fakeFramebuffer(dir, geometry);
    const app = await startApp({
      config: config(dir, {
        kiosk: { enabled: true, host: '127.0.0.1', port: 0 },
        display: { sink: 'framebuffer', device: fb.device },
      }),
      env: {},
      logDestination: lines(),
      sysfsRoot: fb.sysfsRoot,
    });
    apps.push(app);
    const kioskUrl = app.kiosk?.url;
    const sim = app.simulator;
    if (kioskUrl === undefined || !sim) throw new Error('demo mode with the kiosk');
    const framebufferQr = (): string | undefined =>
      decodeQr(frameToRgba(readFileSync(fb.device), geometry), geometry.width, geometry.height);
    const pageQr = async (): Promise<string | undefined> => {
      const png = PNG.sync.read((await http(kioskUrl, 'GET', '/frame.png')).body);
      return decodeQr(png.data, png.width, png.height);
    };

    // Pressed through the kiosk's API, watched on the framebuffer file of the same process.
    const press = await http(kioskUrl, 'POST', '/api/press', {
      body: JSON.stringify({ button: { kind: 'product', slot: 1 } }),
      headers: { 'content-type': 'application/json' },
    });
    expect(press.status).toBe(204);
    const invoice = await until('an invoice at SEQR', () => sim.control.activeInvoice());
    const qr = await until('the QR on the framebuffer', framebufferQr);
    expect(qr).toBe(`HTTP://SEQR.SE/R${invoice.reference}`);
    expect(await pageQr()).toBe(qr);
  });

  it('answers `seqr-vend status` over the control socket', async () => {
    const dir = tempDir();
    const cfg = config(dir);
    await start(cfg);
    const out = lines();
    const err = lines();
    const yaml = configFile(dir, {
      stateDirectory: cfg.stateDirectory,
      control: { socketPath: cfg.control.socketPath },
    });
    const code = await runCli(['status', '--config', yaml, '--json'], {
      stdout: out,
      stderr: err,
      env: {},
    });
    expect(err.text()).toBe('');
    expect(code).toBe(0);
    expect(JSON.parse(out.text())).toMatchObject({ state: 'idle', machine: 'seqr-vend demo' });
  });

  it('refuses to start on a damaged ledger, with the code and without trading', async () => {
    const dir = tempDir();
    const cfg = config(dir);
    mkdirSync(cfg.stateDirectory, { recursive: true });
    writeFileSync(ledgerPath(cfg.stateDirectory), 'this is not a database'.repeat(300));
    const log = lines();
    const failure: unknown = await startApp({ config: cfg, env: {}, logDestination: log }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(errorCodeOf(failure)).toMatch(/^E_LEDGER/);
    expect(log.text()).toContain('start-up failed');
    expect(log.text()).not.toContain('"msg":"ready"');
  });
});

describe('statusLine', () => {
  it('names the invoice while awaiting payment and the reason when out of service', () => {
    const globals = {
      products: [],
      maintenance: false,
      soldOut: [],
      background: { jobs: [] },
      recovery: { loaded: true, items: [] },
    } as const;
    expect(statusLine({ kind: 'idle', ...globals })).toBe('idle');
    expect(
      statusLine({
        kind: 'outOfService',
        reason: 'seqrUnreachable',
        failures: 1,
        probe: 'status',
        probing: false,
        deadline: 'x',
        ...globals,
      }),
    ).toBe('out of service: SEQR unreachable');
  });
});

describe('runCli', () => {
  it('formats status as aligned lines, strings bare, absent values as -', () => {
    expect(formatStatus({ state: 'idle', seqr: { reachable: true, lastError: null } })).toBe(
      `${'state'.padEnd(22)} idle\n${'seqr.reachable'.padEnd(22)} true\n${'seqr.lastError'.padEnd(22)} -\n`,
    );
  });

  it('rejects an unknown command with usage and exit 64', async () => {
    const out = lines();
    const err = lines();
    expect(await runCli(['frobnicate'], { stdout: out, stderr: err, env: {} })).toBe(64);
    expect(err.text()).toContain('unknown command "frobnicate"');
    expect(err.text()).toContain('usage: seqr-vend');
  });

  it('check-config: exit 78 with the line of the problem, 0 for the shipped example', async () => {
    const dir = tempDir();
    const bad = path.join(dir, 'bad.yaml');
    writeFileSync(bad, 'mode: demo\nmachine: { name: x }\nproducts: []\n');
    const err = lines();
    expect(
      await runCli(['check-config', '--config', bad], { stdout: lines(), stderr: err, env: {} }),
    ).toBe(78);
    expect(err.text()).toMatch(/products/);
  });

  it('status without a daemon: E_DAEMON_UNREACHABLE, exit 1', async () => {
    const dir = tempDir();
    const yaml = configFile(dir, { control: { socketPath: path.join(dir, 'none.sock') } });
    const err = lines();
    expect(
      await runCli(['status', '--config', yaml], { stdout: lines(), stderr: err, env: {} }),
    ).toBe(1);
    expect(err.text()).toContain('E_DAEMON_UNREACHABLE');
  });

  it('safe-state on virtual hardware does nothing and says so', async () => {
    const dir = tempDir();
    const yaml = configFile(dir);
    const out = lines();
    expect(
      await runCli(['safe-state', '--config', yaml], { stdout: out, stderr: lines(), env: {} }),
    ).toBe(0);
    expect(out.text()).toContain('virtual hardware');
  });
});
