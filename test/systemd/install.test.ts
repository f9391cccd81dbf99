// systemd/install.sh and uninstall.sh laying out the REAL build (this checkout's dist/, staged
// the way `npm run package` stages it) into a throwaway root. What the installed copy does when
// it runs is in installed.test.ts. Each install copies a few thousand files, hence the timeouts.
import { spawnSync } from 'node:child_process';
import {
  cpSync,
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
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CMDLINE, REPO, bash, makeRoot } from './support.js';

const BUILT = existsSync(path.join(REPO, 'dist/daemon/main.js'));

let work: string;
let root: string;

const install = (...extra: string[]) =>
  bash(path.join(REPO, 'systemd/install.sh'), ['--root', root, '--source', REPO, ...extra]);
const uninstall = (...extra: string[]) =>
  bash(path.join(REPO, 'systemd/uninstall.sh'), ['--root', root, ...extra]);
const mode = (p: string) =>
  (statSync(path.join(root, p)).mode & 0o7777).toString(8).padStart(4, '0');
const read = (p: string) => readFileSync(path.join(root, p), 'utf8');
const commands = () => read('install-commands.log').trim().split('\n');

beforeEach(() => {
  work = mkdtempSync(path.join(os.tmpdir(), 'seqr-install-'));
  root = path.join(work, 'root');
  makeRoot(root);
});
afterEach(() => {
  rmSync(work, { recursive: true, force: true });
});

describe.skipIf(!BUILT)('systemd/install.sh --root, from the built checkout', () => {
  it('lays out code, unit, udev rule, directories and credentials with the right modes', () => {
    const result = install();
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(read('opt/seqr-vend/dist/daemon/main.js')).toBe(
      readFileSync(path.join(REPO, 'dist/daemon/main.js'), 'utf8'),
    );
    expect(mode('opt/seqr-vend/dist/daemon/main.js')).toBe('0644');
    expect(mode('opt/seqr-vend/dist/daemon/seqr/cashregister.wsdl')).toBe('0644');
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
    expect(read('etc/systemd/system/seqr-vend.service')).toContain(
      `ExecStart=${process.execPath} --enable-source-maps --max-semi-space-size=1 /opt/seqr-vend/dist/daemon/main.js`,
    );
    expect(read('etc/udev/rules.d/99-seqr-vend.rules')).toContain('SYMLINK+="seqr-printer"');
    expect(read('etc/tmpfiles.d/seqr-vend-kiosk.conf')).toContain('fbcon/cursor_blink');
    expect(result.stdout).toContain('no terminal password yet');

    // Production dependencies only, no source tree, no benchmarks.
    const modules = readdirSync(path.join(root, 'opt/seqr-vend/node_modules'));
    expect(modules).toEqual(expect.arrayContaining(['better-sqlite3', 'soap', 'pino', 'onoff']));
    for (const dev of ['typescript', 'vitest', 'eslint', 'playwright-core', 'fast-check'])
      expect(modules).not.toContain(dev);
    expect(readdirSync(path.join(root, 'opt/seqr-vend/dist')).sort()).toEqual([
      'config',
      'daemon',
      'hardware',
      'simulator',
    ]);
    expect(existsSync(path.join(root, 'opt/seqr-vend/daemon'))).toBe(false);
    const release = JSON.parse(read('opt/seqr-vend/release.json')) as { natives: string[] };
    const pkg = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as {
      allowScripts: Record<string, boolean>;
    };
    expect(release.natives).toEqual(Object.keys(pkg.allowScripts));

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
  }, 60_000);

  it('upgrades in place: the code replaced as a whole, config, credentials and ledger untouched, cmdline options once', () => {
    expect(install().status).toBe(0);
    writeFileSync(path.join(root, 'etc/seqr-vend/config.yaml'), 'mode: production # edited\n');
    writeFileSync(path.join(root, 'etc/seqr-vend/credentials/seqr-terminal-password'), 'pw-1');
    writeFileSync(path.join(root, 'var/lib/seqr-vend/ledger.db'), 'sales');
    writeFileSync(path.join(root, 'opt/seqr-vend/dist/left-over.js'), '// an old file\n');
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
    expect(existsSync(path.join(root, 'opt/seqr-vend/dist/left-over.js'))).toBe(false);
    expect(existsSync(path.join(root, 'opt/seqr-vend/dist/daemon/main.js'))).toBe(true);
    expect(existsSync(path.join(root, 'opt/seqr-vend.old'))).toBe(false);
    expect(existsSync(path.join(root, 'opt/seqr-vend.new'))).toBe(false);
    expect(read('etc/seqr-vend/config.yaml')).toBe('mode: production # edited\n');
    expect(read('etc/seqr-vend/credentials/seqr-terminal-password')).toBe('pw-1');
    expect(read('var/lib/seqr-vend/ledger.db')).toBe('sales');
    expect(commands().filter((c) => c.startsWith('groupadd') || c.startsWith('useradd'))).toEqual(
      [],
    );
    expect(again.stdout).not.toContain('no terminal password yet');
    expect(read('boot/firmware/cmdline.txt')).toBe(
      `${CMDLINE} consoleblank=0 vt.global_cursor_default=0 quiet\n`,
    );
  }, 60_000);

  it('stores a password given with --password-file as a root-only credential', () => {
    const file = path.join(work, 'pw');
    writeFileSync(file, 's3cret-pw\n');
    expect(install('--password-file', file).status).toBe(0);
    expect(read('etc/seqr-vend/credentials/seqr-terminal-password')).toBe('s3cret-pw');
    expect(mode('etc/seqr-vend/credentials/seqr-terminal-password')).toBe('0600');
  }, 60_000);

  it('refuses a Node.js older than 20.19 and a checkout that was not built', () => {
    const oldNode = path.join(work, 'node18');
    writeFileSync(oldNode, '#!/bin/sh\necho v18.20.4\n', { mode: 0o755 });
    const old = install('--node', oldNode);
    expect(old.status).toBe(1);
    expect(old.stderr).toContain('Node.js 20.19 or newer is required');
    expect(existsSync(path.join(root, 'opt/seqr-vend'))).toBe(false);

    const unbuilt = path.join(work, 'unbuilt');
    for (const file of [
      'package.json',
      'systemd/seqr-vend.service',
      'systemd/99-seqr-vend.rules',
      'config/example.config.yaml',
    ])
      cpSync(path.join(REPO, file), path.join(unbuilt, file));
    const result = bash(path.join(REPO, 'systemd/install.sh'), [
      '--root',
      root,
      '--source',
      unbuilt,
    ]);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('npm run build');
    expect(existsSync(path.join(root, 'opt/seqr-vend'))).toBe(false);
  }, 60_000);
});

describe.skipIf(!BUILT)('systemd/install.sh from a release tree built elsewhere', () => {
  let release: string;
  beforeAll(() => {
    release = mkdtempSync(path.join(os.tmpdir(), 'seqr-release-'));
    const staged = spawnSync(process.execPath, [
      path.join(REPO, 'systemd/package.mjs'),
      '--stage',
      path.join(release, 'seqr-vend'),
    ]);
    expect(staged.status, staged.stderr.toString()).toBe(0);
    // An addon built for another CPU or Node.js line does not load here.
    writeFileSync(
      path.join(release, 'seqr-vend/node_modules/epoll/build/Release/epoll.node'),
      'not an ELF file',
    );
  }, 60_000);
  afterAll(() => {
    rmSync(release, { recursive: true, force: true });
  });

  /** An npm that records its arguments and "rebuilds" epoll by putting the good addon back. */
  function fakeNpm(works: boolean): string {
    const npm = path.join(work, 'npm');
    const good = path.join(REPO, 'node_modules/epoll/build/Release/epoll.node');
    writeFileSync(
      npm,
      `#!/bin/sh\necho "$PWD $*" >> ${work}/npm-calls\n` +
        (works ? `cp ${good} node_modules/epoll/build/Release/epoll.node\n` : 'exit 1\n'),
      { mode: 0o755 },
    );
    return npm;
  }
  const installRelease = (npm: string) =>
    bash(path.join(release, 'seqr-vend/systemd/install.sh'), ['--root', root, '--npm', npm]);

  it('rebuilds native addons that do not load in this Node.js, then installs', () => {
    const result = installRelease(fakeNpm(true));
    expect(result.status, result.stderr).toBe(0);
    expect(result.stderr).toContain('native addons do not load');
    expect(result.stderr).toMatch(/epoll: .*(invalid ELF header|too short)/);
    const natives = Object.keys(
      (
        JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as {
          allowScripts: Record<string, boolean>;
        }
      ).allowScripts,
    );
    expect(readFileSync(path.join(work, 'npm-calls'), 'utf8')).toBe(
      `${root}/opt/seqr-vend.new rebuild --foreground-scripts ${natives.join(' ')}\n`,
    );
    expect(
      readFileSync(path.join(root, 'opt/seqr-vend/node_modules/epoll/build/Release/epoll.node')),
    ).toEqual(readFileSync(path.join(REPO, 'node_modules/epoll/build/Release/epoll.node')));
  }, 60_000);

  it('stops, installing nothing, when the rebuild fails, and says which tools are missing', () => {
    const result = installRelease(fakeNpm(false));
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('apt install python3 make g++');
    expect(existsSync(path.join(root, 'opt/seqr-vend'))).toBe(false);
  }, 60_000);
});

describe.skipIf(!BUILT)('systemd/uninstall.sh --root', () => {
  it('removes the service but keeps the ledger and configuration unless --purge', () => {
    expect(install().status).toBe(0);
    writeFileSync(path.join(root, 'var/lib/seqr-vend/ledger.db'), 'sales');
    const keep = uninstall();
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

    const purge = uninstall('--purge');
    expect(purge.status).toBe(0);
    expect(existsSync(path.join(root, 'var/lib/seqr-vend'))).toBe(false);
    expect(existsSync(path.join(root, 'etc/seqr-vend'))).toBe(false);
    expect(commands()).toContain('userdel seqr-vend');
  }, 60_000);
});
