// What an operator installs is what runs here: the real build installed into a throwaway root
// (systemd/install.sh --root), then the release artefact (npm run package) installed over it, and
// every process started from the INSTALLED copy with the command lines of the installed unit.
// Nothing below runs the checkout's own dist/: a run-time file the build or the artefact leaves
// out (the WSDL, an asset, a production dependency) fails one of these steps.
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { decodeQr, frameToRgba } from '../display/support.js';
import {
  bindNotifySocket,
  notifySocketUnavailable,
  type NotifySocket,
} from '../service/notify-socket.js';
import { REPO, bash, makeRoot, start, unitCommand, until, type Proc } from './support.js';

const BUILT = existsSync(path.join(REPO, 'dist/daemon/main.js'));
const SKIP = !BUILT ? 'no build in dist/ (npm run build)' : notifySocketUnavailable();

const TERMINAL = { id: '5eb1e2d7a3c94f0e8d6b1a2c3d4e5f60', password: 'install-test-pw-71' };
const GEOMETRY = { width: 800, height: 480, bitsPerPixel: 16 as const, stride: 1600 };

let work: string;
let root: string;
let notify: NotifySocket | undefined;
let simulator: Proc | undefined;
let daemon: Proc | undefined;
let soapUrl = '';
let controlUrl = '';
const timings: Record<string, number> = {};

const installed = (...parts: string[]) => path.join(root, 'opt/seqr-vend', ...parts);
const fbFile = () => path.join(work, 'fb0');
const relayFile = () => path.join(work, 'relays.jsonl');
const stateDir = () => path.join(root, 'var/lib/seqr-vend');
const configFile = () => path.join(root, 'etc/seqr-vend/config.yaml');

/** What systemd gives the service: notify socket, state and runtime directories, credentials. */
function serviceEnv(): NodeJS.ProcessEnv {
  return {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    NOTIFY_SOCKET: notify?.path ?? '',
    STATE_DIRECTORY: stateDir(),
    RUNTIME_DIRECTORY: path.join(work, 'run'),
    CREDENTIALS_DIRECTORY: path.join(work, 'credentials'),
  };
}

/** LoadCredential=: systemd copies each credential file into a private directory, mode 0400. */
function loadCredentials(): void {
  const dir = path.join(work, 'credentials');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { mode: 0o700 });
  for (const name of ['seqr-terminal-password', 'seqr-reseller-password']) {
    const from = path.join(root, 'etc/seqr-vend/credentials', name);
    if (readFileSync(from).length === 0) continue;
    copyFileSync(from, path.join(dir, name));
    chmodSync(path.join(dir, name), 0o400);
  }
}

async function timed<T>(phase: string, body: () => Promise<T>): Promise<T> {
  const started = performance.now();
  try {
    return await body();
  } finally {
    timings[phase] = Math.round(performance.now() - started);
  }
}

async function json(url: string, body?: unknown): Promise<unknown> {
  const res = await fetch(url, {
    method: body === undefined ? 'GET' : 'POST',
    ...(body === undefined
      ? {}
      : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${url}: HTTP ${String(res.status)} ${text}`);
  return text === '' ? undefined : JSON.parse(text);
}

/** Starts the installed daemon as the unit does and waits for READY=1. */
async function startService(): Promise<{ proc: Proc; kiosk: string }> {
  const seen = notify?.messages.length ?? 0;
  const proc = start(unitCommand(root, 'ExecStart'), serviceEnv(), work);
  daemon = proc;
  await until('READY=1', () => {
    if (proc.child.exitCode !== null) throw new Error(`daemon exited:\n${proc.output()}`);
    return notify?.messages.slice(seen).find((m) => m.startsWith('READY=1'));
  });
  const url = /"url":"(http:\/\/127\.0\.0\.1:\d+\/)"/.exec(proc.output())?.[1] ?? '';
  return { proc, kiosk: url };
}

/** SIGTERM as `systemctl stop` sends it; resolves with the exit code. */
async function stopService(proc: Proc): Promise<number | string> {
  proc.child.kill('SIGTERM');
  const code = await proc.exited();
  daemon = undefined;
  return code;
}

/** ExecStopPost=: the safe-state command systemd runs after every stop. */
function safeState(): { status: number | null; stdout: string } {
  const [node, ...args] = unitCommand(root, 'ExecStopPost');
  const run = spawnSync(node ?? process.execPath, args, { env: serviceEnv(), encoding: 'utf8' });
  return { status: run.status, stdout: run.stdout + run.stderr };
}

function relayEdges(): { slot: number; energised: boolean; txId?: string }[] {
  if (!existsSync(relayFile())) return [];
  return readFileSync(relayFile(), 'utf8')
    .trim()
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as { slot: number; energised: boolean; txId?: string });
}

/** `seqr-vend sales --json` from the installed copy. */
function sold(): number {
  const run = spawnSync(
    process.execPath,
    [installed('dist/daemon/main.js'), 'sales', '--config', configFile(), '--json'],
    { env: serviceEnv(), encoding: 'utf8' },
  );
  expect(run.status, run.stderr).toBe(0);
  const figures = JSON.parse(run.stdout) as { rows: { sold: number }[] };
  return figures.rows.reduce((sum, row) => sum + row.sold, 0);
}

/** Demo mode (built-in simulator, virtual hardware), the kiosk on any free port. */
function demoConfig(): string {
  return JSON.stringify({
    mode: 'demo',
    machine: { name: 'Install test demo' },
    merchant: { name: 'Install Test AB' },
    products: [{ slot: 1, name: 'Cola 33 cl', price: '25.00', buttonPin: 5, relayPin: 17 }],
    buttons: { cancelPin: 26 },
    kiosk: { port: 0 },
  });
}

function productionConfig(): string {
  return JSON.stringify({
    mode: 'production',
    machine: { name: 'Install test' },
    merchant: { name: 'Install Test AB', vatRate: '12' },
    locale: 'en',
    currency: 'SEK',
    seqr: { endpoint: soapUrl, terminalId: TERMINAL.id },
    products: [
      { slot: 1, name: 'Cola 33 cl', price: '25.00', buttonPin: 5, relayPin: 17, pulseMs: 300 },
      { slot: 2, name: 'Water', price: '18.50', buttonPin: 6, relayPin: 27, pulseMs: 300 },
    ],
    buttons: { cancelPin: 26 },
    gpio: { backend: 'fake' },
    display: { sink: 'framebuffer', device: fbFile(), rotation: 0, ...GEOMETRY },
    printer: { type: 'none' },
    kiosk: { enabled: true, port: 0 },
    virtual: { recordFile: relayFile() },
  });
}

describe.skipIf(SKIP)('the installed copy, from the build and from the release artefact', () => {
  let artefact: string;

  beforeAll(async () => {
    work = mkdtempSync(path.join(os.tmpdir(), 'seqr-installed-'));
    root = path.join(work, 'root');
    makeRoot(root);
    notify = await bindNotifySocket(path.join(work, 'notify.sock'));
    writeFileSync(fbFile(), Buffer.alloc(GEOMETRY.stride * GEOMETRY.height));
    await timed('package', async () => {
      const packed = spawnSync(
        process.execPath,
        [path.join(REPO, 'systemd/package.mjs'), '--out', path.join(work, 'release')],
        { encoding: 'utf8' },
      );
      expect(packed.status, packed.stderr).toBe(0);
      expect(packed.stdout).toMatch(/seqr-vend-[\d.]+\.tgz: [\d.]+ MB, \d+ files/);
      await Promise.resolve();
    });
    const name = readdirSync(path.join(work, 'release')).find((f) => f.endsWith('.tgz')) ?? '';
    artefact = path.join(work, 'release', name);
  }, 120_000);

  afterEach(async () => {
    // A failed step leaves its daemon running: the next one needs the control socket.
    if (daemon && daemon.child.exitCode === null) {
      daemon.child.kill('SIGKILL');
      await daemon.exited();
    }
    daemon = undefined;
  });

  afterAll(async () => {
    simulator?.child.kill('SIGTERM');
    await notify?.close();
    rmSync(work, { recursive: true, force: true });
    console.log(`install test timings (ms): ${JSON.stringify(timings)}`);
  });

  it('installs the built checkout, and the installed copy reaches READY in demo mode', async () => {
    await timed('install build', async () => {
      const password = path.join(work, 'password');
      writeFileSync(password, `${TERMINAL.password}\n`);
      const result = bash(path.join(REPO, 'systemd/install.sh'), [
        '--root',
        root,
        '--source',
        REPO,
        '--password-file',
        password,
      ]);
      expect(result.status, result.stderr).toBe(0);
      await Promise.resolve();
    });
    await timed('demo to READY', async () => {
      writeFileSync(path.join(work, 'demo.yaml'), demoConfig());
      const proc = start(
        [...unitCommand(root, 'ExecStart').slice(0, -2), '--config', path.join(work, 'demo.yaml')],
        { ...serviceEnv(), STATE_DIRECTORY: path.join(work, 'demo-state') },
        work,
      );
      daemon = proc;
      await until('READY=1', () => {
        if (proc.child.exitCode !== null) throw new Error(`daemon exited:\n${proc.output()}`);
        return notify?.messages.find((m) => m.startsWith('READY=1'));
      });
      // The native addons it loaded are the installed ones, not the checkout's.
      const maps = readFileSync(`/proc/${String(proc.child.pid)}/maps`, 'utf8');
      expect(maps).toContain(installed('node_modules/better-sqlite3'));
      expect(maps).not.toContain(path.join(REPO, 'node_modules'));
      expect(await stopService(proc)).toBe(0);
    });
  }, 90_000);

  it('sells through a production config: press, pay, relay pulse, receipt, ledger row; SIGTERM and safe-state', async () => {
    await timed('simulator up', async () => {
      simulator = start(
        [
          process.execPath,
          installed('dist/simulator/main.js'),
          '--port',
          '0',
          '--terminal-id',
          TERMINAL.id,
          '--terminal-password',
          TERMINAL.password,
          '--reversal-ms',
          '600000',
        ],
        { PATH: process.env['PATH'] ?? '' },
        work,
      );
      soapUrl = (await simulator.waitFor(/SOAP endpoint:\s+(\S+)/))[1] ?? '';
      controlUrl = (await simulator.waitFor(/control API:\s+(\S+)/))[1] ?? '';
    });
    writeFileSync(configFile(), productionConfig());
    loadCredentials();
    const check = spawnSync(
      process.execPath,
      [installed('dist/daemon/main.js'), 'check-config', '--config', configFile()],
      { env: serviceEnv(), encoding: 'utf8' },
    );
    expect(check.status, check.stdout + check.stderr).toBe(0);

    const { proc, kiosk } = await timed('production to READY', startService);
    expect(kiosk).not.toBe('');

    const reference = await timed('purchase', async () => {
      await json(new URL('api/press', kiosk).href, { button: { kind: 'product', slot: 1 } });
      const ref = await until('an invoice at SEQR', async () => {
        const { invoice } = (await json(`${controlUrl}/active`)) as {
          invoice: { reference: string } | null;
        };
        return invoice?.reference;
      });
      // The pay screen on the framebuffer: the QR code decodes from the file's pixels.
      await until('the QR code in the framebuffer', () => {
        const rgba = frameToRgba(readFileSync(fbFile()), GEOMETRY);
        return decodeQr(rgba, GEOMETRY.width, GEOMETRY.height) === `HTTP://SEQR.SE/R${ref}`
          ? true
          : undefined;
      });
      await json(`${controlUrl}/invoices/${ref}/pay`, {});
      await until('the receipt submitted to SEQR', async () => {
        const invoice = (await json(`${controlUrl}/invoices/${ref}`)) as { receipts: number };
        return invoice.receipts === 1 ? true : undefined;
      });
      return ref;
    });

    const edges = relayEdges();
    expect(edges.map((e) => [e.slot, e.energised])).toEqual([
      [1, true],
      [1, false],
    ]);
    const state = (await json(new URL('api/state', kiosk).href)) as {
      receipts: number;
      lastReceipt: { invoiceReference: string; productName: string } | null;
    };
    expect(state.receipts).toBe(1);
    expect(state.lastReceipt).toMatchObject({
      invoiceReference: reference,
      productName: 'Cola 33 cl',
    });

    await timed('SIGTERM to exit', async () => {
      const stopping = notify?.messages.length ?? 0;
      expect(await stopService(proc)).toBe(0);
      expect(notify?.messages.slice(stopping).some((m) => m.startsWith('STOPPING=1'))).toBe(true);
    });
    expect(proc.output()).toMatch(/"msg":"stopped"/);
    expect(proc.output()).not.toContain(TERMINAL.password);
    const safe = safeState();
    expect(safe.status, safe.stdout).toBe(0);
    expect(relayEdges().at(-1)?.energised).toBe(false);
    expect(sold()).toBe(1);
  }, 90_000);

  it('upgrades from the artefact while the ledger holds an open purchase, which the next start recovers', async () => {
    // A customer pays while the power is cut: the invoice was open in the ledger.
    const { proc, kiosk } = await startService();
    await json(new URL('api/press', kiosk).href, { button: { kind: 'product', slot: 2 } });
    const ref = await until('an invoice at SEQR', async () => {
      const { invoice } = (await json(`${controlUrl}/active`)) as {
        invoice: { reference: string } | null;
      };
      return invoice?.reference;
    });
    // The pay screen is shown only once invoice.issued is durable.
    await until('the pay screen', async () => {
      const state = (await json(new URL('api/state', kiosk).href)) as {
        screen?: { kind?: string };
      };
      return state.screen?.kind === 'pay' ? true : undefined;
    });
    proc.child.kill('SIGKILL');
    await proc.exited();
    daemon = undefined;
    expect(safeState().status).toBe(0);
    await json(`${controlUrl}/invoices/${ref}/pay`, {});

    const configBefore = readFileSync(configFile(), 'utf8');
    await timed('upgrade from artefact', async () => {
      const result = bash(path.join(REPO, 'systemd/install.sh'), [
        '--artefact',
        artefact,
        '--root',
        root,
      ]);
      expect(result.status, result.stderr).toBe(0);
      await Promise.resolve();
    });
    expect(JSON.parse(readFileSync(installed('release.json'), 'utf8'))).toMatchObject({
      platform: process.platform,
      arch: process.arch,
    });
    expect(readFileSync(configFile(), 'utf8')).toBe(configBefore);
    expect(
      readFileSync(path.join(root, 'etc/seqr-vend/credentials/seqr-terminal-password'), 'utf8'),
    ).toBe(TERMINAL.password);
    expect(existsSync(path.join(stateDir(), 'ledger.sqlite'))).toBe(true);

    const restarted = await timed('recovery start to READY', startService);
    // Paid while the machine was off, young enough: the next start dispenses it once, for that
    // purchase, before any customer presses a button.
    const txId = /"to":"invoicing"[^\n]*?"txId":"([^"]+)"/.exec(proc.output())?.[1] ?? '';
    expect(txId).not.toBe('');
    await until('the recovered dispense', () =>
      relayEdges().some((e) => e.slot === 2 && !e.energised && e.txId === txId) ? true : undefined,
    );
    expect(relayEdges().filter((e) => e.slot === 2 && e.energised)).toHaveLength(1);
    // Committed by the recovery's status poll, not reversed by SEQR.
    expect(await json(`${controlUrl}/invoices/${ref}`)).toMatchObject({
      status: 'PAID',
      committed: true,
    });
    expect(await stopService(restarted.proc)).toBe(0);
    expect(sold()).toBe(2);
  }, 120_000);

  it('uninstalls keeping the ledger; --purge removes it', async () => {
    await timed('uninstall', async () => {
      const keep = bash(installed('systemd/uninstall.sh'), ['--root', root]);
      expect(keep.status, keep.stderr).toBe(0);
      expect(existsSync(installed())).toBe(false);
      expect(existsSync(path.join(stateDir(), 'ledger.sqlite'))).toBe(true);
      const purge = bash(path.join(REPO, 'systemd/uninstall.sh'), ['--root', root, '--purge']);
      expect(purge.status, purge.stderr).toBe(0);
      expect(existsSync(stateDir())).toBe(false);
      await Promise.resolve();
    });
  }, 30_000);

  it('installs the artefact on a fresh machine, and that copy reaches READY in demo mode', async () => {
    root = path.join(work, 'fresh');
    makeRoot(root);
    await timed('install artefact', async () => {
      const result = bash(path.join(REPO, 'systemd/install.sh'), [
        '--artefact',
        artefact,
        '--root',
        root,
      ]);
      expect(result.status, result.stderr).toBe(0);
      await Promise.resolve();
    });
    const seen = notify?.messages.length ?? 0;
    const proc = start(
      [...unitCommand(root, 'ExecStart').slice(0, -2), '--config', path.join(work, 'demo.yaml')],
      { ...serviceEnv(), STATE_DIRECTORY: path.join(work, 'demo-state') },
      work,
    );
    daemon = proc;
    await timed('artefact demo to READY', () =>
      until('READY=1', () => {
        if (proc.child.exitCode !== null) throw new Error(`daemon exited:\n${proc.output()}`);
        return notify?.messages.slice(seen).find((m) => m.startsWith('READY=1'));
      }),
    );
    expect(await stopService(proc)).toBe(0);
  }, 90_000);
});
