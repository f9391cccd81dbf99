// Test support for the SEQR callback gateway: a test CA and server certificate (openssl), gateway
// replicas started from a configuration the way `seqr-vend gateway` starts them, a machine that
// answers the gateway's requests over a real broker, and an HTTPS client that trusts the test CA.
import http from 'node:http';
import https from 'node:https';
import { connectAsync, type IPublishPacket, type MqttClient } from 'mqtt';
import { GatewayConfigSchema, type GatewayConfig } from '../../daemon/gateway/config.js';
import type { Reply } from '../../daemon/gateway/protocol.js';
import { runGateway, type RunningGateway } from '../../daemon/gateway/run.js';

export { makeTestCa } from '../../bench/tls.js';

/** Collected log lines of a replica, parsed. */
export class LogLines {
  readonly lines: Record<string, unknown>[] = [];
  readonly raw: string[] = [];
  write(chunk: string): void {
    this.raw.push(chunk);
    for (const line of chunk.split('\n'))
      if (line.trim() !== '')
        this.lines.push(JSON.parse(line.replace(/^<\d>/, '')) as Record<string, unknown>);
  }
  find(msg: string): Record<string, unknown>[] {
    return this.lines.filter((l) => l['msg'] === msg);
  }
}

export interface Replica {
  readonly gateway: RunningGateway;
  readonly logs: LogLines;
  /** `https://127.0.0.1:PORT/seqr`. */
  readonly base: string;
}

/** A gateway replica on a free port, started from `overrides` as `seqr-vend gateway` would. */
export async function startReplica(
  brokerUrl: string,
  tls: { certFile: string; keyFile: string } | undefined,
  overrides: Partial<Record<keyof GatewayConfig, unknown>> = {},
  credentialsDirectory?: string,
): Promise<Replica> {
  const parsed = GatewayConfigSchema.parse({
    listen: { host: '127.0.0.1', port: 8443 },
    ...(tls === undefined ? {} : { tls: { certFile: tls.certFile, keyFile: tls.keyFile } }),
    broker: { url: brokerUrl },
    deadlines: { purchaseMs: 1_500, notifyMs: 500 },
    ...overrides,
  });
  // A free port for each replica (the schema, like an operator, names a real one).
  const config: GatewayConfig = { ...parsed, listen: { ...parsed.listen, port: 0 } };
  const logs = new LogLines();
  const gateway = await runGateway({
    config,
    env: {},
    logDestination: logs,
    ...(credentialsDirectory === undefined ? {} : { credentialsDirectory }),
  });
  return { gateway, logs, base: `${gateway.url}${config.basePath}` };
}

/** POSTs to a replica, trusting the test CA; resolves with status, headers and body text. */
export function post(
  url: string,
  body: string,
  contentType: string,
  ca?: string,
  method = 'POST',
): Promise<{ status: number; body: string; requestId: string | undefined }> {
  return new Promise((resolve, reject) => {
    const options: https.RequestOptions = {
      method,
      agent: false,
      headers: { 'content-type': contentType, 'content-length': Buffer.byteLength(body) },
      ...(ca === undefined ? {} : { ca }),
    };
    const onResponse = (res: http.IncomingMessage): void => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const id = res.headers['x-request-id'];
        resolve({
          status: res.statusCode ?? 0,
          body: Buffer.concat(chunks).toString('utf8'),
          requestId: typeof id === 'string' ? id : undefined,
        });
      });
    };
    const req = url.startsWith('https:')
      ? https.request(url, options, onResponse)
      : http.request(url, options, onResponse);
    req.on('error', reject);
    req.end(body);
  });
}

/** One request the machine received. */
export interface MachineRequest {
  readonly name: string;
  readonly sender: string;
  readonly body: Record<string, unknown>;
  readonly requestId: string | undefined;
  readonly expiry: number | undefined;
}

/** What the machine does with a request: answer, stay silent, or answer late. */
export type MachineBehaviour = (
  request: MachineRequest,
) => Reply | 'silent' | Promise<Reply | 'silent'>;

/**
 * A machine on the broker as far as the gateway can tell: subscribes its command topics and
 * answers on the response topic (only under its own reply prefix) with the correlation data,
 * as the fleet's request router does.
 */
export async function startMachine(
  brokerUrl: string,
  machineId: string,
  behaviour: MachineBehaviour,
  prefix = 'seqr-vend',
  login: { username?: string; password?: string; ca?: string } = {},
): Promise<{ requests: MachineRequest[]; client: MqttClient; close: () => Promise<void> }> {
  const client = await connectAsync(brokerUrl, {
    protocolVersion: 5,
    clientId: `machine-${machineId}-${Math.random().toString(16).slice(2)}`,
    reconnectPeriod: 200,
    ...login,
  });
  const requests: MachineRequest[] = [];
  const base = `${prefix}/${machineId}`;
  client.on('message', (topic: string, payload: Buffer, packet: IPublishPacket) => {
    const [, sender = '', name = ''] = topic.slice(base.length + 1).split('/');
    const props = packet.properties;
    const user = props?.userProperties ?? {};
    const requestId = user['requestId'];
    const request: MachineRequest = {
      name,
      sender,
      body: JSON.parse(payload.toString()) as Record<string, unknown>,
      requestId: typeof requestId === 'string' ? requestId : undefined,
      expiry: props?.messageExpiryInterval,
    };
    requests.push(request);
    void Promise.resolve(behaviour(request)).then((reply) => {
      const to = props?.responseTopic;
      if (reply === 'silent' || to === undefined || !to.startsWith(`${base}/reply/`)) return;
      client.publish(to, JSON.stringify(reply), {
        qos: 1,
        ...(props?.correlationData === undefined
          ? {}
          : { properties: { correlationData: props.correlationData } }),
      });
    });
  });
  await client.subscribeAsync(`${base}/command/+/+`, { qos: 1 });
  return {
    requests,
    client,
    close: async () => {
      await client.endAsync(true);
    },
  };
}

/** Waits (real time) until `check` is true; throws after `ms`. */
export async function until(check: () => boolean, ms = 5_000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
