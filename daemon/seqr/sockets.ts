// Keep-alive connections to SEQR, and the HTTP exchange of one SOAP call over them.
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { HttpClient, IExOptions, IHeaders, IHttpClient } from 'soap';
import { ExchangeError } from './call-errors.js';
import { soapDebugger, type SoapDebugger } from './soap-debug.js';

/**
 * One call's HTTP exchange: its deadline, and what it saw. The client passes it to the `soap`
 * method as the call's options; soap hands it on to {@link PooledHttpClient.request}.
 */
export class Exchange {
  /** The socket the request went out on, once it has one. */
  socket: Socket | undefined;
  /** The HTTP status of the answer, once its head arrived. */
  httpStatus: number | undefined;
  /** True once the deadline passed: the request was aborted. */
  timedOut = false;

  constructor(
    /** Hard deadline of the exchange in ms, from the request's start to the answer's end. */
    readonly deadlineMs: number,
  ) {}
}

/** What {@link PooledHttpClient} gives soap for an answer: the shape soap reads of a response. */
interface Answer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  data: string;
}

/** An answer with a status that is neither 2xx nor 500 (a SOAP 1.1 fault's status). */
export class HttpStatusError extends Error {
  readonly response: Answer;

  constructor(response: Answer) {
    super(`HTTP status ${response.status}`);
    this.name = 'HttpStatusError';
    this.response = response;
  }
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

/** Headers soap's own HTTP client sends with every request (besides Host and the call's). */
const BASE_HEADERS = {
  Accept: 'text/html,application/xhtml+xml,application/xml,text/xml;q=0.9,*/*;q=0.8',
  'Accept-Encoding': 'none',
  'Accept-Charset': 'utf-8',
} as const;

type SoapCallback = (error: unknown, res?: unknown, body?: unknown) => unknown;

/**
 * The `soap` package's HTTP client (its `httpClient` option) as one Node.js http(s).request per
 * call over a {@link SocketPool}, instead of soap's default, axios: axios' per-request config
 * merging, adapters and interceptors cost more CPU than building and parsing the envelope (the
 * footprint bench's CPU per poll). soap still builds every request and parses every answer, and
 * its own answer handling (`HttpClient.handleResponse`, with its debug output) stays.
 *
 * Per request: no redirects followed, no proxy from the environment, TLS verified by the agent;
 * the answer is read as UTF-8 text. 2xx and 500 (a SOAP 1.1 fault) go to soap as answers; any
 * other status rejects with {@link HttpStatusError} and retires the socket. Any failure below
 * HTTP rejects with {@link ExchangeError}; at the exchange's deadline the request is destroyed and
 * the call rejects at once, whatever still arrives. The request body (the password) is never
 * kept on an error.
 */
export class PooledHttpClient implements IHttpClient {
  readonly #pool: SocketPool;
  readonly #soapHttp: HttpClient;
  readonly #debug: SoapDebugger = soapDebugger();
  #url: { readonly href: string; readonly parsed: URL } | undefined;

  /** `soapHttp`: an instance of soap's own HttpClient, for its handling of answers. */
  constructor(pool: SocketPool, soapHttp: HttpClient) {
    this.#pool = pool;
    this.#soapHttp = soapHttp;
  }

  request(
    rurl: string,
    data: unknown,
    callback: SoapCallback,
    exheaders?: IHeaders,
    exoptions?: IExOptions,
  ): ReturnType<IHttpClient['request']> {
    if (!(exoptions instanceof Exchange))
      throw new TypeError('a SEQR call passes its Exchange as the soap options');
    this.#send(rurl, String(data), callback, exheaders ?? {}, exoptions);
    // soap ignores what request() returns when it is given a callback.
    return undefined as unknown as ReturnType<IHttpClient['request']>;
  }

  #send(
    rurl: string,
    body: string,
    callback: SoapCallback,
    exheaders: IHeaders,
    exchange: Exchange,
  ): void {
    if (this.#url?.href !== rurl) this.#url = { href: rurl, parsed: new URL(rurl) };
    const url = this.#url.parsed;
    const secure = url.protocol === 'https:';
    const pool = this.#pool;
    let settled = false;
    const settle = (error: unknown, answer?: Answer): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error === null && answer) callback(null, answer, answer.data);
      else callback(error);
    };
    const headers = { ...BASE_HEADERS, 'Content-Length': Buffer.byteLength(body), ...exheaders };
    // As soap's own client logs it, with blanks of the same length for the body (the password).
    if (this.#debug.enabled)
      this.#debug('Http request: %j', {
        url: rurl,
        method: 'POST',
        headers,
        data: ' '.repeat(headers['Content-Length']),
      });
    const req = (secure ? https : http).request({
      protocol: url.protocol,
      hostname: url.hostname.replace(/^\[|\]$/g, ''),
      port: url.port,
      path: url.pathname + url.search,
      method: 'POST',
      agent: secure ? pool.https : pool.http,
      headers,
    });
    const timer = setTimeout(() => {
      exchange.timedOut = true;
      settle(new ExchangeError(`no complete answer within ${exchange.deadlineMs} ms`));
      req.destroy();
    }, exchange.deadlineMs);
    req.once('socket', (socket) => {
      exchange.socket = socket;
    });
    req.on('error', (err) => {
      settle(new ExchangeError(err.message, err));
    });
    req.once('response', (res) => {
      const status = res.statusCode ?? 0;
      exchange.httpStatus = status;
      const answered = (status >= 200 && status < 300) || status === 500;
      // Anything but a 2xx answer is a failure: keep its connection out of the pool.
      if ((status < 200 || status > 299) && exchange.socket) pool.retire(exchange.socket);
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
      });
      res.on('error', (err) => {
        settle(new ExchangeError(err.message, err));
      });
      res.once('close', () => {
        if (!res.complete) settle(new ExchangeError('the connection closed within the answer'));
      });
      res.once('end', () => {
        if (!answered) {
          settle(new HttpStatusError({ status, headers: res.headers, data: text }));
          return;
        }
        const answer: Answer = { status, headers: res.headers, data: text };
        answer.data = this.#soapHttp.handleResponse(
          undefined as never,
          answer as never,
          text,
        ) as string;
        settle(null, answer);
      });
    });
    req.end(body);
  }
}
