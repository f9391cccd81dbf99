// A raw loopback HTTP server for client tests that need exact control of the bytes SEQR sends
// (official sample envelopes) or that inspect what the client sent.
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type StubReply =
  | { readonly kind: 'xml'; readonly body: string; readonly status?: number }
  | { readonly kind: 'hang' };

export interface StubRequest {
  /** Local name of the first element in soap:Body, e.g. `sendInvoice`. */
  readonly operation: string;
  readonly body: string;
  readonly headers: http.IncomingHttpHeaders;
  /** Which TCP connection carried it: 1 for the first the server accepted, 2 for the next, ... */
  readonly connection: number;
}

export interface StubServer {
  readonly url: string;
  readonly requests: StubRequest[];
  /** TCP connections accepted so far. */
  connections(): number;
  close(): Promise<void>;
}

export function envelope(inner: string): string {
  return (
    '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>' +
    inner +
    '</soap:Body></soap:Envelope>'
  );
}

/** An answer `{ns}<operation>Response/return` with the given children (XML text). */
export function answer(operation: string, children: string): string {
  return envelope(
    `<ns2:${operation}Response xmlns:ns2="http://external.interfaces.ers.seamless.com/">` +
      `<return>${children}</return></ns2:${operation}Response>`,
  );
}

export async function startStub(respond: (req: StubRequest) => StubReply): Promise<StubServer> {
  const requests: StubRequest[] = [];
  let connections = 0;
  const numbers = new WeakMap<Socket, number>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const operation = /<(?:[\w.-]+:)?Body[^>]*>\s*<(?:[\w.-]+:)?([\w.-]+)/.exec(body)?.[1] ?? '';
      const request = {
        operation,
        body,
        headers: req.headers,
        connection: numbers.get(req.socket) ?? 0,
      };
      requests.push(request);
      const reply = respond(request);
      if (reply.kind === 'hang') return;
      res.writeHead(reply.status ?? 200, { 'content-type': 'text/xml; charset=utf-8' });
      res.end(reply.body);
    });
  });
  server.on('connection', (socket) => {
    connections++;
    numbers.set(socket, connections);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/soap/merchant/cashregister-2`,
    requests,
    connections: () => connections,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}
