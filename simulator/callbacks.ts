// The simulated SEQR calling the merchant: the notificationUrl POST of a paid invoice or a
// reservation outcome (API.md §9.8), and the UPS service's createPurchase (API.md §9.6). Plain
// HTTP(S) clients with a deadline, a fresh connection each, and no retry (SEQR retries neither).
import http from 'node:http';
import https from 'node:https';
import { rootCertificates } from 'node:tls';

/** Largest answer read from the merchant; the rest is dropped. */
const MAX_ANSWER_BYTES = 64 * 1024;

export interface CallbackOptions {
  /** The whole exchange (connect, send, answer) must end within this time. */
  readonly timeoutMs: number;
  /** PEM certificates trusted for https URLs in addition to the system roots (a test CA). */
  readonly ca?: string | Buffer | readonly (string | Buffer)[];
  /** Aborts the call (the simulator closing). */
  readonly signal?: AbortSignal;
}

/** What came back: the HTTP status and the body as text (cut at 64 KiB). */
export interface CallbackAnswer {
  readonly status: number;
  readonly body: string;
}

/**
 * POSTs `body` to `url` (http or https; certificates verified). Resolves with the answer whatever
 * its status; rejects on a network error, a bad URL or the deadline.
 */
export function postCallback(
  url: string,
  body: string,
  contentType: string,
  options: CallbackOptions,
): Promise<CallbackAnswer> {
  return new Promise((resolve, reject) => {
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      reject(new Error(`not a URL: ${url.slice(0, 200)}`));
      return;
    }
    if (target.protocol !== 'http:' && target.protocol !== 'https:') {
      reject(new Error(`not an http(s) URL: ${target.protocol}`));
      return;
    }
    const extraCa = options.ca === undefined ? [] : [options.ca].flat();
    const request = (target.protocol === 'https:' ? https : http).request(target, {
      method: 'POST',
      agent: false,
      headers: {
        'content-type': contentType,
        accept: 'application/json',
        'content-length': Buffer.byteLength(body),
        'user-agent': 'seqr-simulator',
      },
      ...(target.protocol === 'https:' && extraCa.length > 0
        ? { ca: [...rootCertificates, ...extraCa] }
        : {}),
    });
    const timer = setTimeout(() => {
      request.destroy(new Error(`no answer within ${options.timeoutMs} ms`));
    }, options.timeoutMs);
    const onAbort = (): void => {
      request.destroy(new Error('the simulator is closing'));
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const done = (): void => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
    };
    request.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        if (size < MAX_ANSWER_BYTES) chunks.push(chunk.subarray(0, MAX_ANSWER_BYTES - size));
        size += chunk.length;
      });
      res.on('end', () => {
        done();
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', (err) => {
        done();
        reject(err);
      });
    });
    request.on('error', (err) => {
      done();
      reject(err);
    });
    request.end(body);
  });
}
