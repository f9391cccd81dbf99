// Keep-alive connections to SEQR, and what a call needs to know about the one it used.
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

/** What one call saw of its HTTP exchange. Filled in while the call runs. */
export interface Exchange {
  /** For axios' `transport` option: node's http(s).request, noting the socket and the status. */
  readonly transport: {
    request(
      options: http.RequestOptions,
      callback?: (res: http.IncomingMessage) => void,
    ): http.ClientRequest;
  };
  /** The socket the request went out on, once it has one. */
  readonly socket: Socket | undefined;
  /** The HTTP status of the answer, once its head arrived. */
  readonly httpStatus: number | undefined;
}

/**
 * One keep-alive agent per protocol whose sockets can be retired: a retired socket is destroyed
 * at once when idle, or when the request using it lets go of it, and never pooled again. A call
 * that failed (hung, reset, HTTP error, SOAP fault, unreadable answer) retires its socket, so the
 * next call goes out at once on a fresh connection instead of behind a connection that a proxy
 * or SEQR itself may have left broken.
 */
export class SocketPool {
  readonly http: http.Agent;
  readonly https: https.Agent;
  readonly #retired = new WeakSet<Duplex>();

  constructor(options: { readonly ca?: readonly (string | Buffer)[] } = {}) {
    const retired = this.#retired;
    // Node's Agent destroys a freed socket instead of pooling it when keepSocketAlive is falsy.
    const keep = <A extends http.Agent>(agent: A): A => {
      const base = agent.keepSocketAlive.bind(agent) as (socket: Duplex) => boolean;
      agent.keepSocketAlive = (socket: Duplex): boolean => !retired.has(socket) && base(socket);
      return agent;
    };
    this.http = keep(new http.Agent({ keepAlive: true }));
    this.https = keep(
      new https.Agent({
        keepAlive: true,
        ...(options.ca === undefined ? {} : { ca: [...options.ca] }),
      }),
    );
  }

  /** A fresh {@link Exchange} for one call. */
  exchange(): Exchange {
    const seen: { socket?: Socket; httpStatus?: number | undefined } = {};
    return {
      transport: {
        request: (options, callback) => {
          const req = (options.protocol === 'https:' ? https : http).request(options, callback);
          req.once('socket', (socket) => {
            seen.socket = socket;
          });
          req.once('response', (res) => {
            seen.httpStatus = res.statusCode;
            // Anything but a 2xx answer is a failure: keep its connection out of the pool.
            const status = res.statusCode ?? 0;
            if ((status < 200 || status > 299) && seen.socket) this.retire(seen.socket);
          });
          return req;
        },
      },
      get socket() {
        return seen.socket;
      },
      get httpStatus() {
        return seen.httpStatus;
      },
    };
  }

  /** Never lends `socket` to another request; destroys it now if it sits idle in the pool. */
  retire(socket: Socket | undefined): void {
    if (!socket) return;
    this.#retired.add(socket);
    const idle = [this.http, this.https].some((agent) =>
      Object.values(agent.freeSockets).some((list) => list?.includes(socket)),
    );
    if (idle) socket.destroy();
  }

  /** Closes every connection, idle or not. */
  destroy(): void {
    this.http.destroy();
    this.https.destroy();
  }
}
