import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  credentialPath,
  readCredential,
  readResellerPassword,
  readTerminalPassword,
  writeCredential,
} from '../../config/credentials.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'seqr-cred-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('credentials', () => {
  it("prefers systemd's $CREDENTIALS_DIRECTORY over the fallback directory", () => {
    expect(credentialPath('x', { CREDENTIALS_DIRECTORY: '/run/creds/u' }, '/etc/c')).toBe(
      '/run/creds/u/x',
    );
    expect(credentialPath('x', {}, '/etc/c')).toBe('/etc/c/x');
  });

  it('writes a root-only file atomically and reads it back without the newline', async () => {
    const target = path.join(dir, 'credentials');
    const file = await writeCredential(target, 'seqr-terminal-password', 'n3w-pass');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(target).mode & 0o777).toBe(0o700);
    expect(await readCredential('seqr-terminal-password', {}, target)).toBe('n3w-pass');
    await writeCredential(target, 'seqr-terminal-password', 'second');
    expect(await readCredential('seqr-terminal-password', {}, target)).toBe('second');
  });

  it('refuses group- or world-readable, empty and symlinked files without showing the content', async () => {
    writeFileSync(path.join(dir, 'open'), 'very-secret\n');
    chmodSync(path.join(dir, 'open'), 0o640);
    await expect(readCredential('open', {}, dir)).rejects.toThrow(/mode 0640\); run: chmod 600/);
    await expect(readCredential('open', {}, dir)).rejects.not.toThrow(/very-secret/);

    writeFileSync(path.join(dir, 'empty'), '', { mode: 0o600 });
    await expect(readCredential('empty', {}, dir)).rejects.toThrow(/is empty/);

    mkdirSync(path.join(dir, 'real'));
    writeFileSync(path.join(dir, 'real', 'x'), 'abc', { mode: 0o600 });
    symlinkSync(path.join(dir, 'real', 'x'), path.join(dir, 'link'));
    await expect(readCredential('link', {}, dir)).rejects.toMatchObject({
      code: 'E_CONFIG_INVALID',
    });
  });

  it('reads the terminal and reseller passwords by their credential names', async () => {
    await writeCredential(dir, 'seqr-terminal-password', 'terminal-pw');
    await writeCredential(dir, 'seqr-reseller-password', 'reseller-pw');
    expect(
      await readTerminalPassword(
        { credentialsDirectory: '/nonexistent' },
        { CREDENTIALS_DIRECTORY: dir },
      ),
    ).toBe('terminal-pw');
    expect(await readResellerPassword({ credentialsDirectory: dir }, {})).toBe('reseller-pw');
  });
});
