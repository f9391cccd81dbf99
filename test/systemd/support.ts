import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export const REPO = path.join(import.meta.dirname, '../..');
export const CMDLINE =
  'console=serial0,115200 console=tty1 root=PARTUUID=1234-02 rootfstype=ext4 fsck.repair=yes rootwait';

/** A throwaway Raspberry Pi OS root: video and lp exist, gpio and dialout do not. */
export function makeRoot(root: string): void {
  mkdirSync(path.join(root, 'etc'), { recursive: true });
  writeFileSync(path.join(root, 'etc/group'), 'root:x:0:\nlp:x:7:\nvideo:x:44:\n');
  writeFileSync(path.join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/bash\n');
  mkdirSync(path.join(root, 'boot/firmware'), { recursive: true });
  writeFileSync(path.join(root, 'boot/firmware/cmdline.txt'), `${CMDLINE}\n`);
}

export interface Run {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a shell script (an installer) with a minimal environment. */
export function bash(script: string, args: readonly string[]): Run {
  const run = spawnSync('bash', [script, ...args], {
    encoding: 'utf8',
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' },
  });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

/**
 * The installed unit's command line for `key` (ExecStart, ExecStopPost), with the paths it names
 * under /opt/seqr-vend and /etc/seqr-vend moved into the throwaway `root`: what systemd would run.
 */
export function unitCommand(root: string, key: 'ExecStart' | 'ExecStopPost'): string[] {
  const unit = readFileSync(path.join(root, 'etc/systemd/system/seqr-vend.service'), 'utf8');
  const line = new RegExp(`^${key}=(.+)$`, 'm').exec(unit)?.[1];
  if (line === undefined) throw new Error(`no ${key}= in the installed unit`);
  return line
    .split(' ')
    .map((word) => word.replace(/^\/(opt|etc)\/seqr-vend(?=\/|$)/, `${root}/$1/seqr-vend`));
}

/** A process with its output collected, and a way to wait for what it prints. */
export interface Proc {
  readonly child: ChildProcess;
  output(): string;
  /** Resolves with the first match of `pattern` in the output; rejects on exit or timeout. */
  waitFor(pattern: RegExp, ms?: number): Promise<RegExpExecArray>;
  /** Resolves with the exit code (or the signal's name). */
  exited(): Promise<number | string>;
}

export function start(argv: readonly string[], env: NodeJS.ProcessEnv, cwd: string): Proc {
  const [command, ...args] = argv;
  if (command === undefined) throw new Error('empty command');
  const child = spawn(command, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (text += chunk.toString()));
  const exit = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      resolve(code ?? signal ?? 'unknown');
    });
  });
  return {
    child,
    output: () => text,
    exited: () => exit,
    waitFor(pattern, ms = 30_000) {
      const end = Date.now() + ms;
      return new Promise((resolve, reject) => {
        const tick = (): void => {
          const match = pattern.exec(text);
          if (match) resolve(match);
          else if (child.exitCode !== null || child.signalCode !== null)
            reject(new Error(`exited before printing ${String(pattern)}:\n${text}`));
          else if (Date.now() > end)
            reject(new Error(`timed out waiting for ${String(pattern)}:\n${text}`));
          else setTimeout(tick, 20);
        };
        tick();
      });
    },
  };
}

/** Polls `probe` until it returns a value other than undefined. */
export async function until<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  ms = 30_000,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
