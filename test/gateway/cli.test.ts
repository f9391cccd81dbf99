// `seqr-vend gateway --config FILE`: starts from the file, answers SEQR, stops on SIGTERM with
// exit 0; an invalid file is exit 78 with every problem named.
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../daemon/cli/cli.js';
import { EXIT_CONFIG } from '../../config/load.js';
import { freePort, startBroker, type Broker } from '../../bench/broker.js';
import { post, until } from './support.js';

let broker: Broker;
const dir = mkdtempSync(path.join(os.tmpdir(), 'seqr-gateway-cli-'));

beforeAll(async () => {
  broker = await startBroker();
});
afterAll(async () => {
  await broker.close();
});

function collector(): { write(text: string): void; text: () => string } {
  const chunks: string[] = [];
  return {
    write: (text) => {
      chunks.push(text);
    },
    text: () => chunks.join(''),
  };
}

describe('seqr-vend gateway', () => {
  it('serves from its config file until SIGTERM, then exits 0', async () => {
    const port = await freePort();
    const file = path.join(dir, 'gateway.yaml');
    writeFileSync(
      file,
      `listen:\n  host: 127.0.0.1\n  port: ${port}\nbroker:\n  url: ${broker.url}\ndeadlines:\n  purchaseMs: 600\n`,
    );
    const listeners = new Map<string, () => void>();
    const signals = {
      on: (signal: string, fn: () => void) => listeners.set(signal, fn),
      off: (signal: string) => listeners.delete(signal),
      exitCode: undefined as number | undefined,
    };
    const out = collector();
    const err = collector();
    const exit = runCli(['gateway', '--config', file], {
      stdout: out,
      stderr: err,
      env: {},
      signals,
    });
    await until(() => out.text().includes('broker connected'), 10_000, 'the gateway to start');
    const answer = await post(
      `http://127.0.0.1:${port}/seqr/createPurchase`,
      JSON.stringify({ token: 'absent-machine', amount: '10.00', currency: 'SEK' }),
      'application/json',
    );
    expect(answer).toMatchObject({ status: 200, body: '{"errorCode":"DEVICE_UNAVAILABLE"}' });
    listeners.get('SIGTERM')?.();
    expect(await exit).toBe(0);
    expect(out.text()).toContain('"msg":"gateway stopped"');
    expect(err.text()).toBe('');
  });

  it('refuses an invalid configuration with exit 78', async () => {
    const file = path.join(dir, 'bad.yaml');
    writeFileSync(file, 'broker:\n  url: ftp://x\nlisten:\n  port: 0\n');
    const err = collector();
    const code = await runCli(['gateway', '--config', file], {
      stdout: collector(),
      stderr: err,
      env: {},
    });
    expect(code).toBe(EXIT_CONFIG);
    expect(err.text()).toMatch(/bad\.yaml:2: broker\.url: /);
    expect(err.text()).toMatch(/bad\.yaml:4: listen\.port: /);
  });
});
