import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readCredential, TERMINAL_PASSWORD_CREDENTIAL } from '../../config/credentials.js';
import { VendError } from '../../daemon/errors.js';
import {
  registerTerminal,
  type RegisterTerminalFn,
} from '../../daemon/service/register-terminal.js';

let dir: string;
let creds: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'seqr-register-'));
  creds = path.join(dir, 'credentials');
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('registerTerminal', () => {
  it('registers with a fresh random password, stores it root-only and sets the id in the config', async () => {
    const configPath = path.join(dir, 'config.yaml');
    writeFileSync(
      configPath,
      '# my kiosk\nmode: production\nseqr:\n  endpoint: https://seqr.example/soap # test\n',
    );
    chmodSync(configPath, 0o640);
    const calls: Parameters<RegisterTerminalFn>[0][] = [];
    const result = await registerTerminal({
      register: (terminal) => {
        calls.push(terminal);
        // The password is safe on disk before SEQR learns it.
        expect(readdirSync(creds)).toEqual([`${TERMINAL_PASSWORD_CREDENTIAL}.pending`]);
        return Promise.resolve({ terminalId: '87e791f9e24148a6892c52aa85bb0331' });
      },
      credentialsDirectory: creds,
      externalTerminalId: 'Kiosk 1',
      name: 'Example Snacks, kiosk 1',
      configPath,
    });
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({
      externalTerminalId: 'Kiosk 1',
      name: 'Example Snacks, kiosk 1',
    });
    expect(calls[0]!.password).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(result).toEqual({
      terminalId: '87e791f9e24148a6892c52aa85bb0331',
      credentialFile: path.join(creds, TERMINAL_PASSWORD_CREDENTIAL),
      configUpdated: true,
    });
    expect(statSync(result.credentialFile).mode & 0o777).toBe(0o600);
    expect(await readCredential(TERMINAL_PASSWORD_CREDENTIAL, {}, creds)).toBe(calls[0]!.password);
    expect(readdirSync(creds)).toEqual([TERMINAL_PASSWORD_CREDENTIAL]);
    expect(readFileSync(configPath, 'utf8')).toBe(
      '# my kiosk\nmode: production\nseqr:\n  endpoint: https://seqr.example/soap # test\n  terminalId: 87e791f9e24148a6892c52aa85bb0331\n',
    );
    expect(statSync(configPath).mode & 0o777).toBe(0o640);
  });

  it('stores nothing when SEQR refuses, and keeps the password out of the error', async () => {
    const refusal = new VendError('E_SEQR_AUTH', 'SEQR refused the reseller credentials');
    await expect(
      registerTerminal({
        register: () => Promise.reject(refusal),
        credentialsDirectory: creds,
        externalTerminalId: 'Kiosk 1',
        name: 'Kiosk',
        newPassword: () => 'generated-password-1',
      }),
    ).rejects.toBe(refusal);
    expect(readdirSync(creds)).toEqual([]);
    expect(existsSync(path.join(creds, TERMINAL_PASSWORD_CREDENTIAL))).toBe(false);
  });

  it('keeps the stored password and names the id when the config cannot be updated', async () => {
    const result = registerTerminal({
      register: () => Promise.resolve({ terminalId: 'abc123' }),
      credentialsDirectory: creds,
      externalTerminalId: 'Kiosk 1',
      name: 'Kiosk',
      configPath: path.join(dir, 'missing.yaml'),
      newPassword: () => 'generated-password-2',
    });
    await expect(result).rejects.toMatchObject({
      code: 'E_CONFIG_INVALID',
      message: expect.stringContaining('set seqr.terminalId: abc123 by hand') as unknown,
    });
    await expect(result).rejects.not.toThrow(/generated-password-2/);
    expect(await readCredential(TERMINAL_PASSWORD_CREDENTIAL, {}, creds)).toBe(
      'generated-password-2',
    );
  });
});
