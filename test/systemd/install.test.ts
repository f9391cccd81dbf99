import { spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const REPO = path.join(import.meta.dirname, '../..');
const CMDLINE =
  'console=serial0,115200 console=tty1 root=PARTUUID=1234-02 rootfstype=ext4 fsck.repair=yes rootwait';

let work: string;
let root: string;
let source: string;

function sh(
  script: string,
  args: string[],
): { status: number | null; stdout: string; stderr: string } {
  const run = spawnSync('bash', [path.join(REPO, 'systemd', script), ...args], {
    encoding: 'utf8',
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' },
  });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}
const install = (...extra: string[]) =>
  sh('install.sh', ['--root', root, '--source', source, ...extra]);
const mode = (p: string) =>
  (statSync(path.join(root, p)).mode & 0o7777).toString(8).padStart(4, '0');
const read = (p: string) => readFileSync(path.join(root, p), 'utf8');
const commands = () => read('install-commands.log').trim().split('\n');

beforeEach(() => {
  work = mkdtempSync(path.join(os.tmpdir(), 'seqr-install-'));
  root = path.join(work, 'root');
  source = path.join(work, 'src');
  // A throwaway Raspberry Pi OS root: video and lp exist, gpio and dialout do not.
  mkdirSync(path.join(root, 'etc'), { recursive: true });
  writeFileSync(path.join(root, 'etc/group'), 'root:x:0:\nlp:x:7:\nvideo:x:44:\n');
  writeFileSync(path.join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/bash\n');
  mkdirSync(path.join(root, 'boot/firmware'), { recursive: true });
  writeFileSync(path.join(root, 'boot/firmware/cmdline.txt'), `${CMDLINE}\n`);
  // A built tree to install: the real unit, rule and example, a stand-in dist.
  mkdirSync(path.join(source, 'dist/daemon'), { recursive: true });
  writeFileSync(path.join(source, 'dist/daemon/main.js'), '// build 1\n');
  cpSync(path.join(REPO, 'systemd'), path.join(source, 'systemd'), { recursive: true });
  mkdirSync(path.join(source, 'config'));
  cpSync(
    path.join(REPO, 'config/example.config.yaml'),
    path.join(source, 'config/example.config.yaml'),
  );
  cpSync(path.join(REPO, 'package.json'), path.join(source, 'package.json'));
  cpSync(
    path.join(REPO, 'config/config.schema.json'),
    path.join(source, 'config/config.schema.json'),
  );
});
afterEach(() => {
  rmSync(work, { recursive: true, force: true });
});

describe('systemd/install.sh --root', () => {
  it('lays out code, unit, udev rule, directories and credentials with the right modes', () => {
    const result = install();
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(read('opt/seqr-vend/dist/daemon/main.js')).toBe('// build 1\n');
    expect(mode('opt/seqr-vend/dist/daemon/main.js')).toBe('0644');
    expect(mode('usr/local/bin/seqr-vend')).toBe('0755');
    expect(mode('opt/seqr-vend/config/config.schema.json')).toBe('0644');
    expect(read('usr/local/bin/seqr-vend')).toContain('/opt/seqr-vend/dist/daemon/main.js "$@"');
    expect(mode('etc/seqr-vend')).toBe('0755');
    expect(mode('etc/seqr-vend/config.yaml')).toBe('0640');
    expect(read('etc/seqr-vend/config.yaml')).toBe(
      readFileSync(path.join(REPO, 'config/example.config.yaml'), 'utf8'),
    );
    expect(mode('etc/seqr-vend/credentials')).toBe('0700');
    expect(mode('etc/seqr-vend/credentials/seqr-terminal-password')).toBe('0600');
    expect(mode('etc/seqr-vend/credentials/seqr-reseller-password')).toBe('0600');
    expect(mode('etc/seqr-vend/credentials/fleet-password')).toBe('0600');
    expect(mode('var/lib/seqr-vend')).toBe('0750');
    expect(mode('etc/systemd/system/seqr-vend.service')).toBe('0644');
    expect(read('etc/systemd/system/seqr-vend.service')).toContain('ExecStart=');
    expect(read('etc/udev/rules.d/99-seqr-vend.rules')).toContain('SYMLINK+="seqr-printer"');
    expect(read('etc/tmpfiles.d/seqr-vend-kiosk.conf')).toContain('fbcon/cursor_blink');
    expect(result.stdout).toContain('no terminal password yet');
  });

  it('creates the missing groups and the user, and records the owners it would set', () => {
    expect(install().status).toBe(0);
    const log = commands();
    expect(log).toEqual(
      expect.arrayContaining([
        'groupadd --system gpio',
        'groupadd --system dialout',
        'groupadd --system seqr-vend',
        'useradd --system --gid seqr-vend --home-dir /var/lib/seqr-vend --no-create-home --shell /usr/sbin/nologin --comment seqr-vend vending terminal seqr-vend',
        'usermod --append --groups gpio,video,lp,dialout seqr-vend',
        'chown -R root:root /opt/seqr-vend',
        'chown root:root /etc/seqr-vend/credentials',
        'chown root:root /etc/seqr-vend/credentials/seqr-terminal-password',
        'chown root:seqr-vend /etc/seqr-vend/config.yaml',
        'chown seqr-vend:seqr-vend /var/lib/seqr-vend',
        'systemctl mask getty@tty1.service',
      ]),
    );
    expect(log).not.toContain('groupadd --system video');
    expect(log).not.toContain('groupadd --system lp');
    // Reload before enabling, and start last.
    const at = [
      'systemctl daemon-reload',
      'systemctl enable seqr-vend.service',
      'systemctl restart seqr-vend.service',
    ].map((c) => log.indexOf(c));
    expect(at[0]).toBeGreaterThanOrEqual(0);
    expect(at[0]! < at[1]! && at[1]! < at[2]!).toBe(true);
  });

  it('sets the kiosk console options on cmdline.txt once', () => {
    expect(install().status).toBe(0);
    expect(install().status).toBe(0);
    expect(read('boot/firmware/cmdline.txt')).toBe(
      `${CMDLINE} consoleblank=0 vt.global_cursor_default=0 quiet\n`,
    );
  });

  it('upgrades in place: new code, but config, credentials and ledger untouched', () => {
    expect(install().status).toBe(0);
    writeFileSync(path.join(root, 'etc/seqr-vend/config.yaml'), 'mode: production # edited\n');
    writeFileSync(path.join(root, 'etc/seqr-vend/credentials/seqr-terminal-password'), 'pw-1');
    writeFileSync(path.join(root, 'var/lib/seqr-vend/ledger.db'), 'sales');
    writeFileSync(path.join(source, 'dist/daemon/main.js'), '// build 2\n');
    writeFileSync(
      path.join(root, 'etc/group'),
      `${read('etc/group')}gpio:x:990:\ndialout:x:20:\nseqr-vend:x:991:\n`,
    );
    writeFileSync(
      path.join(root, 'etc/passwd'),
      `${read('etc/passwd')}seqr-vend:x:991:991::/var/lib/seqr-vend:/usr/sbin/nologin\n`,
    );

    const again = install();
    expect(again.status).toBe(0);
    expect(read('opt/seqr-vend/dist/daemon/main.js')).toBe('// build 2\n');
    expect(existsSync(path.join(root, 'opt/seqr-vend.old'))).toBe(false);
    expect(read('etc/seqr-vend/config.yaml')).toBe('mode: production # edited\n');
    expect(read('etc/seqr-vend/credentials/seqr-terminal-password')).toBe('pw-1');
    expect(read('var/lib/seqr-vend/ledger.db')).toBe('sales');
    expect(commands().filter((c) => c.startsWith('groupadd') || c.startsWith('useradd'))).toEqual(
      [],
    );
    expect(again.stdout).not.toContain('no terminal password yet');
  });

  it('stores a password given with --password-file as a root-only credential', () => {
    const file = path.join(work, 'pw');
    writeFileSync(file, 's3cret-pw\n');
    expect(install('--password-file', file).status).toBe(0);
    expect(read('etc/seqr-vend/credentials/seqr-terminal-password')).toBe('s3cret-pw');
    expect(mode('etc/seqr-vend/credentials/seqr-terminal-password')).toBe('0600');
  });

  it('refuses a Node.js older than 20.19 and a tree that was not built', () => {
    const oldNode = path.join(work, 'node18');
    writeFileSync(oldNode, '#!/bin/sh\necho v18.20.4\n', { mode: 0o755 });
    const old = install('--node', oldNode);
    expect(old.status).toBe(1);
    expect(old.stderr).toContain('Node.js 20.19 or newer is required');
    expect(existsSync(path.join(root, 'opt/seqr-vend'))).toBe(false);

    rmSync(path.join(source, 'dist'), { recursive: true });
    const unbuilt = install();
    expect(unbuilt.status).toBe(1);
    expect(unbuilt.stderr).toContain('npm run build');
  });
});

describe('systemd/uninstall.sh --root', () => {
  it('removes the service but keeps the ledger and configuration unless --purge', () => {
    expect(install().status).toBe(0);
    writeFileSync(path.join(root, 'var/lib/seqr-vend/ledger.db'), 'sales');
    const keep = sh('uninstall.sh', ['--root', root]);
    expect(keep.status).toBe(0);
    expect(existsSync(path.join(root, 'opt/seqr-vend'))).toBe(false);
    expect(existsSync(path.join(root, 'etc/systemd/system/seqr-vend.service'))).toBe(false);
    expect(existsSync(path.join(root, 'etc/udev/rules.d/99-seqr-vend.rules'))).toBe(false);
    expect(existsSync(path.join(root, 'usr/local/bin/seqr-vend'))).toBe(false);
    expect(read('var/lib/seqr-vend/ledger.db')).toBe('sales');
    expect(existsSync(path.join(root, 'etc/seqr-vend/config.yaml'))).toBe(true);
    expect(commands()).toEqual(
      expect.arrayContaining([
        'systemctl disable --now seqr-vend.service',
        'systemctl daemon-reload',
      ]),
    );
    expect(commands()).not.toContain('userdel seqr-vend');

    const purge = sh('uninstall.sh', ['--root', root, '--purge']);
    expect(purge.status).toBe(0);
    expect(existsSync(path.join(root, 'var/lib/seqr-vend'))).toBe(false);
    expect(existsSync(path.join(root, 'etc/seqr-vend'))).toBe(false);
    expect(commands()).toContain('userdel seqr-vend');
  });
});
