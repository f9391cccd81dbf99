// Shared helpers of the SEQR client tests: a simulator per test, a client on it, and the check
// that nothing reachable from an error holds a secret.
import { inspect } from 'node:util';
import net from 'node:net';
import { expect } from 'vitest';
import { startSimulator, type SeqrSimulator } from '../../simulator/index.js';
import { SeqrClient, type SeqrClientOptions } from '../../daemon/seqr/client.js';

/** Distinctive secrets, so a leak cannot hide behind a common substring. */
export const TERMINAL_PASSWORD = 'Term-Pw-7f3a9c21';
export const RESELLER_PASSWORD = 'Resl-Pw-0b8e44d6';

export async function startSim(): Promise<SeqrSimulator> {
  return startSimulator({
    terminal: { id: '87e791f9e24148a6892c52aa85bb0331', password: TERMINAL_PASSWORD },
    reseller: { id: 'public_test_shop', userId: '9900', password: RESELLER_PASSWORD },
    missingAckMode: 'NO_ACKNOWLEDGMENT',
  });
}

export async function clientFor(
  sim: SeqrSimulator,
  options: Partial<SeqrClientOptions> = {},
): Promise<SeqrClient> {
  return SeqrClient.create({
    endpoint: sim.soapUrl,
    terminal: sim.terminal,
    reseller: sim.reseller,
    deadlineMs: 8000,
    ...options,
  });
}

/** The rejection of `promise` (fails the test if it resolves). */
export async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(Error);
    return err as Error;
  }
  throw new Error('expected a rejection, but the call resolved');
}

/** Asserts no rendering of `err` or of anything in its cause chain contains any of `secrets`. */
export function expectNoSecrets(err: unknown, secrets: readonly string[]): void {
  const renderings: string[] = [];
  let current: unknown = err;
  for (let depth = 0; current !== undefined && depth < 10; depth++) {
    renderings.push(inspect(current, { depth: 20, showHidden: true }));
    renderings.push(JSON.stringify(current));
    if (current instanceof Error)
      renderings.push(String(current), current.message, current.stack ?? '');
    if (typeof current === 'object' && current !== null) {
      const bag = current as Record<string, unknown>;
      for (const key of Object.getOwnPropertyNames(bag)) renderings.push(inspect(bag[key]));
    }
    current =
      typeof current === 'object' && current !== null
        ? (current as { cause?: unknown }).cause
        : undefined;
  }
  const all = renderings.join('\n');
  for (const secret of secrets) expect(all).not.toContain(secret);
}

/** A port nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => {
    server.close(() => {
      resolve();
    });
  });
  return port;
}

/** A TCP relay in front of `target` that counts the connections clients open through it. */
export async function countingProxy(target: string): Promise<{
  url: string;
  connections: () => number;
  close: () => Promise<void>;
}> {
  const upstream = new URL(target);
  const sockets = new Set<net.Socket>();
  let connections = 0;
  const server = net.createServer((client) => {
    connections++;
    const server = net.connect(Number(upstream.port), upstream.hostname);
    for (const s of [client, server]) {
      sockets.add(s);
      s.on('error', () => s.destroy());
      s.on('close', () => sockets.delete(s));
    }
    client.pipe(server).pipe(client);
    client.on('close', () => server.destroy());
    server.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  const url = new URL(target);
  url.port = String(port);
  return {
    url: url.href,
    connections: () => connections,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => {
          resolve();
        });
      }),
  };
}
