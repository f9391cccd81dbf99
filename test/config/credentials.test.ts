import {
  chmodSync,
  chownSync,
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
  CredentialError,
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

describe('a credential that cannot be used says why', () => {
  const why = async (name: string, env: NodeJS.ProcessEnv = {}): Promise<CredentialError> => {
    const err = await readCredential(name, env, dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CredentialError);
    expect((err as CredentialError).code).toBe('E_CONFIG_INVALID');
    expect((err as Error).message).not.toContain('s3cret');
    return err as CredentialError;
  };
  const file = (name: string, content: string, mode = 0o600): string => {
    const f = path.join(dir, name);
    writeFileSync(f, content, { mode });
    chmodSync(f, mode);
    return f;
  };

  it('missing: marked as missing, with the fix', async () => {
    const err = await why('absent');
    expect(err.missing).toBe(true);
    expect(err.message).toBe(
      `credential absent: ${dir}/absent does not exist; create it with \`seqr-vend register-terminal\` or as a root-only file (chmod 600) in ${dir}, loaded by the unit's LoadCredential=`,
    );
  });

  it('empty, blank, several lines, control characters, too short or large: each named, none missing', async () => {
    file('blank', '  \n');
    file('lines', 's3cret\nsecond\n');
    file('ctrl', 's3cret\u0007x\n');
    file('big', 's3cret'.repeat(1_000));
    file('short', 'abc\n');
    const cases: [string, string][] = [
      ['blank', 'is empty'],
      ['lines', 'holds more than one line; a credential is one line, the password alone'],
      ['ctrl', 'holds control characters; write the password as plain text'],
      ['big', 'is 6000 bytes; a credential is one line, the password alone'],
      [
        'short',
        'holds fewer than 4 characters: too short to be scrubbed from the output (not a SEQR password)',
      ],
    ];
    for (const [name, reason] of cases) {
      const err = await why(name);
      expect(err.missing).toBe(false);
      expect(err.message).toBe(`credential ${name}: ${dir}/${name} ${reason}`);
    }
  });

  it('a directory, a symbolic link, another owner: each named', async () => {
    mkdirSync(path.join(dir, 'adir'), { mode: 0o700 });
    expect((await why('adir')).message).toMatch(/adir is not a regular file$/);
    symlinkSync(file('target', 's3cret'), path.join(dir, 'link'));
    expect((await why('link')).message).toMatch(
      /link is a symbolic link; put the password in a regular file$/,
    );
    if (process.getuid?.() === 0) {
      chownSync(file('theirs', 's3cret'), 4321, 4321);
      expect((await why('theirs')).message).toBe(
        `credential theirs: ${dir}/theirs is owned by uid 4321; it must belong to root; run: chown root: ${dir}/theirs`,
      );
    }
  });

  it("under systemd's credentials directory, group bits from its ACL are fine, others are not", async () => {
    const env = { CREDENTIALS_DIRECTORY: dir };
    file('acl', 's3cret\n', 0o440);
    expect(await readCredential('acl', env, '/nonexistent')).toBe('s3cret');
    file('world', 's3cret\n', 0o444);
    const err = await readCredential('world', env, '/nonexistent').catch((e: unknown) => e);
    expect(String(err)).toMatch(/is readable by group or others \(mode 0444\)/);
    // The same group-readable file outside systemd is refused.
    expect((await why('acl')).message).toMatch(/mode 0440\); run: chmod 600/);
  });
});
