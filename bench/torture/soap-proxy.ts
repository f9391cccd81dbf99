// A loopback HTTP relay between the daemon and the simulator that can stop the daemon at an exact
// point of a SOAP call. The simulator's own onCall hook fires when the call's connection ends, too
// late to lose an answer; this relay holds every answer, so a kill can land before the call
// reaches SEQR, after SEQR acted on it but before the daemon reads the answer, or just after the
// daemon got it.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { OPERATIONS, type Operation } from '../../simulator/index.js';

/** One SOAP call passing through. */
export interface ProxiedCall {
  readonly op: Operation | '(unknown)';
  readonly request: string;
}

/**
 * What to do with a call's answer. `answerLost`: SEQR carried the call out; `kill` runs, then the
 * connection is dropped without the answer. `afterAnswer`: the answer is passed on, then `kill`
 * runs after `delayMs`.
 */
export type ProxyDecision =
  | { readonly action: 'pass' }
  | { readonly action: 'answerLost'; readonly kill: () => void }
  | { readonly action: 'afterAnswer'; readonly delayMs: number; readonly kill: () => void };

export interface SoapProxyHooks {
  /**
   * Called when the whole request has arrived. A function returned is run at once and the call is
   * dropped before it reaches SEQR; undefined forwards it.
   */
  onRequest(call: ProxiedCall): (() => void) | undefined;
  /** Called with SEQR's answer before it is passed on. */
  onAnswer(call: ProxiedCall, answer: string): ProxyDecision;
}

export interface SoapProxy {
  /** The endpoint to configure in the daemon: same path as the simulator's SOAP URL. */
  readonly url: string;
  close(): Promise<void>;
}

const OPERATION_PATTERN = new RegExp(`<(?:[\\w.-]+:)?(${OPERATIONS.join('|')})[\\s>/]`);

function operationOf(body: string): Operation | '(unknown)' {
  // The first operation element inside the SOAP Body names the call.
  const bodyStart = body.search(/<(?:[\w.-]+:)?Body[\s>]/);
  const match = OPERATION_PATTERN.exec(bodyStart < 0 ? body : body.slice(bodyStart));
  return (match?.[1] as Operation | undefined) ?? '(unknown)';
}

/**
 * Starts the relay on 127.0.0.1 (ephemeral port) in front of `target` (the simulator's SOAP URL).
 * Resolves once listening.
 */
export async function startSoapProxy(target: string, hooks: SoapProxyHooks): Promise<SoapProxy> {
  const targetUrl = new URL(target);
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const request = Buffer.concat(chunks).toString('utf8');
      const call: ProxiedCall = { op: operationOf(request), request };
      const killNow = hooks.onRequest(call);
      if (killNow) {
        killNow();
        req.socket.destroy();
        return;
      }
      const headers = { ...req.headers, host: targetUrl.host };
      delete headers.connection;
      const upstream = http.request(
        {
          host: targetUrl.hostname,
          port: targetUrl.port,
          path: req.url,
          method: req.method,
          headers,
          agent: false,
        },
        (answer) => {
          const parts: Buffer[] = [];
          answer.on('data', (chunk: Buffer) => parts.push(chunk));
          answer.on('end', () => {
            const body = Buffer.concat(parts);
            const decision = hooks.onAnswer(call, body.toString('utf8'));
            if (decision.action === 'answerLost') {
              decision.kill();
              req.socket.destroy();
              return;
            }
            const out = { ...answer.headers };
            delete out.connection;
            delete out['transfer-encoding'];
            out['content-length'] = String(body.length);
            res.writeHead(answer.statusCode ?? 502, out);
            res.end(body, () => {
              if (decision.action === 'afterAnswer') setTimeout(decision.kill, decision.delayMs);
            });
          });
          answer.on('error', () => req.socket.destroy());
        },
      );
      upstream.on('error', () => req.socket.destroy());
      upstream.end(request);
    });
    req.on('error', () => undefined);
  });
  server.keepAliveTimeout = 1_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}${targetUrl.pathname}`,
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
        server.closeAllConnections();
      })),
  };
}
