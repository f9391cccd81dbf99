// A loopback relay in front of the SEQR simulator that, when told to, answers a call itself by
// echoing the request back, as broken servers and proxies do: an HTML 500 page with the request
// in it, or a SOAP fault whose faultstring quotes the request. The request holds the password.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type Echo = 'html500' | 'fault';

export interface EchoRelay {
  /** The endpoint to configure: the simulator's SOAP path on the relay. */
  readonly url: string;
  /** The next calls (in order) are answered with these echoes instead of being forwarded. */
  echoNext(...echoes: Echo[]): void;
  /** How many echoes were sent so far. */
  echoed(): number;
  close(): Promise<void>;
}

function escapeXml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}

function answer(echo: Echo, request: string): { type: string; body: string } {
  if (echo === 'html500')
    return {
      type: 'text/html; charset=utf-8',
      body: `<html><body><h1>500 Internal Server Error</h1><p>Request was:</p><pre>${request}</pre></body></html>`,
    };
  return {
    type: 'text/xml; charset=utf-8',
    body:
      '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault>' +
      `<faultcode>soap:Server</faultcode><faultstring>Cannot process ${escapeXml(request)}</faultstring>` +
      '</soap:Fault></soap:Body></soap:Envelope>',
  };
}

export async function startEchoRelay(target: string): Promise<EchoRelay> {
  const to = new URL(target);
  const queue: Echo[] = [];
  let echoed = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const request = Buffer.concat(chunks);
      const echo = queue.shift();
      if (echo !== undefined) {
        echoed++;
        const { type, body } = answer(echo, request.toString('utf8'));
        res.writeHead(500, { 'content-type': type });
        res.end(body);
        return;
      }
      const headers = { ...req.headers, host: to.host };
      delete headers.connection;
      const upstream = http.request(
        {
          host: to.hostname,
          port: to.port,
          path: req.url,
          method: req.method,
          headers,
          agent: false,
        },
        (reply) => {
          res.writeHead(reply.statusCode ?? 502, reply.headers);
          reply.pipe(res);
        },
      );
      upstream.on('error', () => res.destroy());
      upstream.end(request);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${String(port)}${to.pathname}`,
    echoNext: (...echoes) => queue.push(...echoes),
    echoed: () => echoed,
    close: () =>
      new Promise((resolve) => {
        server.close(() => {
          resolve();
        });
        server.closeAllConnections();
      }),
  };
}
