// A real Mosquitto broker for tests and benchmarks: its own directory, a generated config on a
// free loopback port (never a fixed one: several suites run at once), optional users and ACL,
// persistence on disk so a restart keeps sessions and queued messages; stop, kill and restart.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const MOSQUITTO = process.env['MOSQUITTO'] ?? '/usr/sbin/mosquitto';
export const MOSQUITTO_PASSWD = process.env['MOSQUITTO_PASSWD'] ?? '/usr/bin/mosquitto_passwd';

export interface BrokerOptions {
  /** user -> password; without, anonymous clients are allowed. */
  readonly users?: Readonly<Record<string, string>>;
  /** Mosquitto ACL file text (with `users`). */
  readonly acl?: string;
  /** Extra mosquitto.conf lines. */
  readonly extra?: readonly string[];
}

export interface Broker {
  readonly port: number;
  readonly url: string;
  readonly dir: string;
  /** Starts it again on the same port (after stop or kill). */
  start(): Promise<void>;
  /** SIGTERM: Mosquitto saves its persistence file and exits. */
  stop(): Promise<void>;
  /** SIGKILL: whatever was not saved is gone. */
  kill(): Promise<void>;
  /** Stops it and removes its directory. */
  close(): Promise<void>;
  /** The last lines Mosquitto printed (for a failure message). */
  readonly log: string[];
}

/** A free loopback port (the OS picks it; a short race with other processes is retried). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => {
        resolve(port);
      });
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => {
      resolve(false);
    });
  });
}

export async function startBroker(options: BrokerOptions = {}): Promise<Broker> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'seqr-mosquitto-'));
  const log: string[] = [];
  let child: ChildProcess | undefined;
  let port = 0;

  const lines = (): string[] => {
    const conf = [
      'per_listener_settings false',
      `listener ${port} 127.0.0.1`,
      'persistence true',
      `persistence_location ${dir}/`,
      'autosave_interval 1',
      'autosave_on_changes true',
      'max_queued_messages 0',
      'max_inflight_messages 0',
      'log_dest stdout',
      'log_type error',
      'log_type warning',
      'log_type notice',
      // Run as root (CI), Mosquitto would switch to its own user and lose access to `dir`.
      ...(process.getuid?.() === 0 ? ['user root'] : []),
      ...(options.extra ?? []),
    ];
    if (options.users) {
      const pw = path.join(dir, 'passwd');
      writeFileSync(pw, '');
      for (const [user, password] of Object.entries(options.users)) {
        const r = spawnSync(MOSQUITTO_PASSWD, ['-b', pw, user, password]);
        if (r.status !== 0) throw new Error(`mosquitto_passwd failed: ${r.stderr.toString()}`);
      }
      conf.push('allow_anonymous false', `password_file ${pw}`);
      if (options.acl !== undefined) {
        writeFileSync(path.join(dir, 'acl'), options.acl);
        conf.push(`acl_file ${path.join(dir, 'acl')}`);
      }
    } else conf.push('allow_anonymous true');
    return conf;
  };

  const launch = async (): Promise<void> => {
    for (let attempt = 0; ; attempt++) {
      if (port === 0) port = await freePort();
      const confFile = path.join(dir, 'mosquitto.conf');
      writeFileSync(confFile, `${lines().join('\n')}\n`);
      const proc = spawn(MOSQUITTO, ['-c', confFile], { stdio: ['ignore', 'pipe', 'pipe'] });
      child = proc;
      const keep = (chunk: Buffer): void => {
        log.push(...chunk.toString().trimEnd().split('\n'));
        if (log.length > 200) log.splice(0, log.length - 200);
      };
      proc.stdout.on('data', keep);
      proc.stderr.on('data', keep);
      const exited = (): boolean => proc.exitCode !== null || proc.signalCode !== null;
      const deadline = Date.now() + 10_000;
      while (!exited() && Date.now() < deadline && !(await canConnect(port)))
        await new Promise((r) => setTimeout(r, 20));
      if (!exited() && (await canConnect(port))) return;
      proc.kill('SIGKILL');
      if (attempt >= 3) throw new Error(`mosquitto did not start: ${log.slice(-10).join('\n')}`);
      // The port was taken meanwhile: a fresh one (only before the first successful start).
      if (!broker.started) port = 0;
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  const end = async (signal: NodeJS.Signals): Promise<void> => {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const gone = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill(signal);
    await gone;
  };

  const broker = {
    started: false,
    get port() {
      return port;
    },
    get url() {
      return `mqtt://127.0.0.1:${String(port)}`;
    },
    dir,
    log,
    start: async () => {
      await launch();
      broker.started = true;
    },
    stop: () => end('SIGTERM'),
    kill: () => end('SIGKILL'),
    close: async () => {
      await end('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await broker.start();
  return broker;
}
