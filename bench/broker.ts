// The one Mosquitto harness of the tests and benchmarks (Debian's `mosquitto`, installed by
// .ci/system-deps.sh): its own directory and generated config on a free loopback port (never a
// fixed one: several suites run at once), optional users, ACL, TLS and persistence on disk (a
// restart then keeps sessions and queued messages); stop, kill and start again on the same port.
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
  /** PEM files: the listener speaks TLS only (`mqtts://`). */
  readonly tls?: { readonly caFile: string; readonly certFile: string; readonly keyFile: string };
  /**
   * Sessions, queued and retained messages saved in its directory (every second and on change),
   * so that they survive a stop or a kill and restart. Default false.
   */
  readonly persistence?: boolean;
}

export interface Broker {
  readonly port: number;
  readonly url: string;
  /** Its directory (config, password file, ACL, persistence file). */
  readonly dir: string;
  /** Starts it again on the same port (after stop or kill). */
  start(): Promise<void>;
  /** SIGTERM: Mosquitto saves its persistence file and exits. */
  stop(): Promise<void>;
  /** SIGKILL: the broker is gone at once, connections cut without a goodbye. */
  kill(): Promise<void>;
  /** SIGTERM, then removes its directory. */
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
  let started = false;

  const config = (): string => {
    const conf = [
      // Users and ACL apply to the broker as a whole, as on an operator's single-listener broker.
      'per_listener_settings false',
      `listener ${port} 127.0.0.1`,
      ...(options.tls
        ? [
            `cafile ${options.tls.caFile}`,
            `certfile ${options.tls.certFile}`,
            `keyfile ${options.tls.keyFile}`,
          ]
        : []),
      // Started as root (CI), Mosquitto would switch to its own user and lose its files here.
      ...(process.getuid?.() === 0 ? ['user root'] : []),
      ...(options.persistence === true
        ? [
            'persistence true',
            `persistence_location ${dir}/`,
            'autosave_interval 1',
            'autosave_on_changes true',
          ]
        : ['persistence false']),
      // No broker-side cap on queued or in-flight messages: the clients bound their own.
      'max_queued_messages 0',
      'max_inflight_messages 0',
      'log_dest stdout',
      'log_type error',
      'log_type warning',
      'log_type notice',
      // As the README asks of an operator's broker: without it, Nagle's algorithm holds each
      // small request or answer for the peer's delayed ACK (some 40 ms a hop).
      'set_tcp_nodelay true',
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
    return `${conf.join('\n')}\n`;
  };

  const launch = async (): Promise<void> => {
    for (let attempt = 0; ; attempt++) {
      if (port === 0) port = await freePort();
      const file = path.join(dir, 'mosquitto.conf');
      writeFileSync(file, config());
      const proc = spawn(MOSQUITTO, ['-c', file], { stdio: ['ignore', 'pipe', 'pipe'] });
      child = proc;
      const keep = (chunk: Buffer): void => {
        log.push(...chunk.toString().trimEnd().split('\n'));
        if (log.length > 200) log.splice(0, log.length - 200);
      };
      proc.stdout.on('data', keep);
      proc.stderr.on('data', keep);
      const exit = { seen: false };
      proc.once('exit', () => {
        exit.seen = true;
      });
      const deadline = Date.now() + 10_000;
      while (!exit.seen && Date.now() < deadline && !(await canConnect(port)))
        await new Promise((r) => setTimeout(r, 20));
      if (!exit.seen && (await canConnect(port))) return;
      proc.kill('SIGKILL');
      if (attempt >= 3) throw new Error(`mosquitto did not start: ${log.slice(-10).join('\n')}`);
      // The port was taken meanwhile: a fresh one, unless clients already know this one.
      if (!started) port = 0;
      await new Promise((r) => setTimeout(r, 200));
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

  await launch();
  started = true;
  return {
    get port() {
      return port;
    },
    get url() {
      return `${options.tls ? 'mqtts' : 'mqtt'}://127.0.0.1:${String(port)}`;
    },
    dir,
    log,
    start: launch,
    stop: () => end('SIGTERM'),
    kill: () => end('SIGKILL'),
    close: async () => {
      await end('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
