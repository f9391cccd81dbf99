import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

/**
 * A real AF_UNIX datagram socket standing in for systemd's notify socket. Node cannot bind one,
 * so a small python3 program does and prints each datagram as a JSON string on its own line.
 * A path starting with `@` is bound in the abstract namespace, as `$NOTIFY_SOCKET` names it.
 * Any file descriptors sent along (a BARRIER=1 pipe) are closed on receipt, which is what PID 1
 * does to release the sender.
 */
export interface NotifySocket {
  readonly path: string;
  /** Every datagram received so far, in order, `BARRIER=1` ones excluded. */
  readonly messages: string[];
  /** Resolves once `count` messages have arrived. */
  waitFor(count: number): Promise<void>;
  close(): Promise<void>;
}

const PROGRAM = `
import array, json, os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\\0" + sys.argv[1][1:] if sys.argv[1].startswith("@") else sys.argv[1])
print("bound", flush=True)
while True:
    data, anc, flags, addr = s.recvmsg(65536, socket.CMSG_SPACE(16 * 4))
    for level, kind, payload in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds = array.array("i")
            fds.frombytes(payload[: len(payload) - len(payload) % 4])
            for fd in fds:
                os.close(fd)
    print(json.dumps(data.decode()), flush=True)
`;

/** Why a real notify socket cannot be made here, or undefined when it can. */
export function notifySocketUnavailable(): string | undefined {
  const python = spawnSync('python3', ['-c', 'import socket; socket.AF_UNIX']);
  if (python.error || python.status !== 0)
    return 'python3 is not available to bind a datagram socket';
  return undefined;
}

export async function bindNotifySocket(path: string): Promise<NotifySocket> {
  const child: ChildProcess = spawn('python3', ['-c', PROGRAM, path], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const messages: string[] = [];
  const waiters: { count: number; resolve: () => void }[] = [];
  const lines = createInterface({ input: child.stdout! });
  await new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => {
      reject(new Error(`notify socket helper exited with ${String(code)}`));
    });
    lines.on('line', (line) => {
      if (line === 'bound') {
        resolve();
        return;
      }
      const message = JSON.parse(line) as string;
      if (message === 'BARRIER=1') return;
      messages.push(message);
      for (const w of waiters.filter((x) => messages.length >= x.count)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    });
  });
  return {
    path,
    messages,
    waitFor: (count) =>
      messages.length >= count
        ? Promise.resolve()
        : new Promise((resolve) => {
            waiters.push({ count, resolve });
          }),
    close: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) {
          resolve();
          return;
        }
        child.removeAllListeners('exit');
        child.once('exit', () => {
          resolve();
        });
        child.kill();
      }),
  };
}
