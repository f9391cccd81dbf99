// The daemon's credentials in every mode: the simulator's own password is used with the built-in
// simulator only; an external SEQR endpoint, in demo mode too, needs a usable credential file,
// and one that cannot be used stops the start with the reason.
import { chmodSync, chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  RESELLER_PASSWORD_CREDENTIAL,
  TERMINAL_PASSWORD_CREDENTIAL,
  writeCredential,
} from '../../config/credentials.js';
import { DEMO_CONFIG_INPUT } from '../../config/demo.js';
import { checkConfig } from '../../config/load.js';
import { configSchema, type ConfigInput } from '../../config/schema.js';
import { startApp, type App } from '../../daemon/app.js';
import { errorCodeOf } from '../../daemon/errors.js';
import { startSimulator, type SeqrSimulator } from '../../simulator/index.js';

let sim: SeqrSimulator;
let dir: string;
let app: App | undefined;
beforeAll(async () => {
  // A simulator whose terminal does NOT use the built-in default password.
  sim = await startSimulator({
    host: '127.0.0.1',
    port: 0,
    terminal: { id: 'c0ffee00c0ffee00c0ffee00c0ffee00', password: 'Ext-Sim-Pw-77' },
  });
});
afterAll(async () => {
  await sim.close();
});
afterEach(async () => {
  await app?.stop();
  app = undefined;
  rmSync(dir, { recursive: true, force: true });
});

function input(extra: Partial<ConfigInput> = {}): ConfigInput {
  dir = mkdtempSync(path.join(os.tmpdir(), 'seqr-vend-creds-'));
  return {
    ...DEMO_CONFIG_INPUT,
    seqr: { endpoint: sim.soapUrl, terminalId: sim.terminal.id },
    credentialsDirectory: path.join(dir, 'credentials'),
    stateDirectory: path.join(dir, 'state'),
    control: { socketPath: path.join(dir, 'control.sock') },
    kiosk: { enabled: false },
    ...extra,
  };
}

async function startWith(config: ConfigInput, log = { text: '' }): Promise<unknown> {
  try {
    app = await startApp({
      config: configSchema({ stateDirectory: '/x', controlSocket: '/x' }).parse(config),
      env: {},
      logDestination: { write: (l: string) => (log.text += l) },
    });
    return undefined;
  } catch (err) {
    return err;
  }
}

describe('demo mode with an external SEQR endpoint', () => {
  it('without a credential file: refuses to start, saying which file is missing', async () => {
    const err = await startWith(input());
    expect(errorCodeOf(err)).toBe('E_CONFIG_INVALID');
    expect(String(err)).toContain(
      `credential seqr-terminal-password: ${dir}/credentials/seqr-terminal-password does not exist`,
    );
    // Nothing was tried with the simulator's default password.
    expect(sim.control.calls()).toEqual([]);
  });

  it('with a credential file it cannot use: refuses, saying why (mode, owner, empty)', async () => {
    const config = input();
    const file = await writeCredential(
      path.join(dir, 'credentials'),
      TERMINAL_PASSWORD_CREDENTIAL,
      sim.terminal.password,
    );
    chmodSync(file, 0o644);
    expect(String(await startWith(config))).toContain('is readable by group or others (mode 0644)');
    chmodSync(file, 0o600);
    if (process.getuid?.() === 0) {
      chownSync(file, 4321, 4321);
      expect(String(await startWith(config))).toContain('is owned by uid 4321');
      chownSync(file, 0, 0);
    }
    writeFileSync(file, '\n');
    expect(String(await startWith(config))).toContain('is empty');
    expect(sim.control.calls()).toEqual([]);
  });

  it('with the terminal credential: starts and talks to that SEQR with it', async () => {
    const config = input();
    await writeCredential(
      path.join(dir, 'credentials'),
      TERMINAL_PASSWORD_CREDENTIAL,
      sim.terminal.password,
    );
    expect(await startWith(config)).toBeUndefined();
    app?.virtual?.buttons.press({ kind: 'product', slot: 1 });
    await expect.poll(() => sim.control.activeInvoice(), { timeout: 10_000 }).toBeDefined();
  });

  it('a reseller credential may be absent (reports off, with the reason) but not unusable', async () => {
    const config = input({
      seqr: {
        endpoint: sim.soapUrl,
        terminalId: sim.terminal.id,
        reseller: { id: 'shop', userId: '9900' },
      },
    });
    const credentials = path.join(dir, 'credentials');
    await writeCredential(credentials, TERMINAL_PASSWORD_CREDENTIAL, sim.terminal.password);
    const log = { text: '' };
    expect(await startWith(config, log)).toBeUndefined();
    expect(log.text).toMatch(
      /"reason":"credential seqr-reseller-password: [^"]+ does not exist[^"]*".*no reseller password: end-of-day reports are off/,
    );
    await app?.stop();
    app = undefined;

    const reseller = await writeCredential(credentials, RESELLER_PASSWORD_CREDENTIAL, 'rs-pw-1');
    chmodSync(reseller, 0o640);
    const err = await startWith(config);
    expect(errorCodeOf(err)).toBe('E_CONFIG_INVALID');
    expect(String(err)).toContain('seqr-reseller-password');
    expect(String(err)).toContain('mode 0640');
  });

  it('check-config checks the credential too, not only in production', async () => {
    const config = input();
    const file = path.join(dir, 'config.yaml');
    writeFileSync(file, JSON.stringify(config));
    const result = await checkConfig(file, {});
    expect(result.ok).toBe(false);
    expect(result.lines).toEqual([
      expect.stringContaining(`${dir}/credentials/seqr-terminal-password does not exist`),
    ]);
    const noTerminal = { ...config, seqr: { endpoint: sim.soapUrl } };
    writeFileSync(file, JSON.stringify(noTerminal));
    expect((await checkConfig(file, {})).lines).toEqual([
      expect.stringMatching(/seqr\.terminalId: is required with seqr\.endpoint/),
    ]);
  });
});

describe('demo mode with the built-in simulator', () => {
  it("needs no credential: the simulator's own password is used", async () => {
    const config = input({ seqr: {} });
    expect(await startWith(config)).toBeUndefined();
    expect(app?.simulator).toBeDefined();
  });
});
