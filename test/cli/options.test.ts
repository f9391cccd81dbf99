// Every seqr-vend command takes its options the same ways (one parser): `--config FILE`,
// `--config=FILE`, `-c FILE`; a bad option is a usage error (exit 64) for every command alike.
// `logs` filters by priority with journalctl's names and numbers.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '../../daemon/cli/cli.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'seqr-cli-options-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

async function cli(
  argv: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(argv, {
    stdout: { write: (t: string) => (out += t) },
    stderr: { write: (t: string) => (err += t) },
    env,
  });
  return { code, out, err };
}

/** Each command that reads the configuration, with the arguments it needs besides. */
const COMMANDS: readonly (readonly string[])[] = [
  ['run'],
  ['check-config'],
  ['status'],
  ['safe-state'],
  ['register-terminal'],
  ['sales'],
  ['pending'],
  ['refund', '1234567890'],
  ['close-period'],
  ['report', 'p-1'],
];

describe('--config in every form, for every command', () => {
  it('reads the file named by --config FILE, --config=FILE, -c FILE and -cFILE alike', async () => {
    // A file that does not exist: every command stops on it, naming it, with exit 78.
    const file = path.join(dir, 'nope.yaml');
    for (const [command, ...args] of COMMANDS) {
      const forms = [['--config', file], [`--config=${file}`], ['-c', file], [`-c${file}`]];
      const results = await Promise.all(forms.map((form) => cli([command!, ...args, ...form])));
      for (const [i, result] of results.entries()) {
        expect(result.code, `${command!} ${forms[i]!.join(' ')}: ${result.err}`).toBe(78);
        expect(result.err).toContain(`${file}: cannot read the configuration file (ENOENT)`);
        expect(result.err).toBe(results[0]!.err);
      }
    }
  });

  it('an unknown option, a missing value or a stray argument is a usage error (64) everywhere', async () => {
    for (const [command, ...args] of COMMANDS) {
      for (const bad of [['--bogus'], ['--config']]) {
        const result = await cli([command!, ...args, ...bad]);
        expect(result.code, `${command!} ${bad.join(' ')}: ${result.err}`).toBe(64);
      }
    }
    for (const bad of [
      ['status', 'extra'],
      ['logs', '--bogus'],
      ['logs', '-n'],
    ])
      expect((await cli(bad)).code, bad.join(' ')).toBe(64);
  });
});

describe('seqr-vend logs', () => {
  /** A journalctl stand-in on PATH that prints the arguments it was given. */
  function fakeJournalctl(): NodeJS.ProcessEnv {
    const bin = path.join(dir, 'bin');
    mkdirSync(bin);
    const tool = path.join(bin, 'journalctl');
    writeFileSync(tool, '#!/bin/sh\necho "journalctl $*"\n');
    chmodSync(tool, 0o755);
    return { PATH: `${bin}:/usr/bin:/bin` };
  }

  it('filters by priority: -p warning, --priority=4, a range, the daemon level names', async () => {
    const env = fakeJournalctl();
    const run = async (args: string[]) => (await cli(['logs', '--no-follow', ...args], env)).out;
    expect(await run(['-p', 'warning'])).toBe('journalctl -u seqr-vend -o cat -n 50 -p warning\n');
    expect(await run(['--priority=4', '-n5'])).toBe('journalctl -u seqr-vend -o cat -n 5 -p 4\n');
    expect(await run(['-p', 'err..warning', '--lines', '7'])).toBe(
      'journalctl -u seqr-vend -o cat -n 7 -p err..warning\n',
    );
    expect(await run(['-pwarn'])).toBe('journalctl -u seqr-vend -o cat -n 50 -p warning\n');
  });

  it('refuses a priority journalctl would not know, listing the names', async () => {
    const result = await cli(['logs', '-p', 'loud'], fakeJournalctl());
    expect(result.code).toBe(64);
    expect(result.err).toBe(
      'seqr-vend logs: -p takes a priority (emerg, alert, crit, err, warning, notice, info, debug), its number 0-7 or a range FROM..TO, got "loud" (seqr-vend --help lists the options)\n',
    );
    expect(result.out).toBe('');
  });
});
