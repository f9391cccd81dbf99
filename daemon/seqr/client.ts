import { randomUUID } from 'node:crypto';
import { rootCertificates } from 'node:tls';
import type { Client } from 'soap';
import { VendError } from '../errors.js';
import type { Money } from '../ports/money.js';
import { classifyFailure, redactor, SeqrResultError, type SeqrOperation } from './call-errors.js';
import { defaultWsdlPath, packageInfo } from '../package-root.js';
import { guardSoapDebug } from './soap-debug.js';
import { Exchange, PooledHttpClient, SocketPool } from './sockets.js';
import {
  amountWire,
  contextWire,
  invoiceWire,
  parametersWire,
  paymentStatusOf,
  readReturn,
  reportOf,
  requiredText,
  tokensWire,
  type SeqrCustomerToken,
  type SeqrInvoice,
  type SeqrPaymentStatus,
  type SeqrPrincipal,
  type SeqrReceiptDocument,
  type SeqrReport,
  type WireObject,
} from './wire.js';

/** A registered terminal's credentials (principal type TERMINALID). */
export interface SeqrTerminalCredentials {
  /** The terminal id SEQR assigned, e.g. 32 lower-case hex digits. */
  readonly id: string;
  readonly password: string;
}

/** The merchant's reseller user (principal type RESELLERUSER), for registration and reports. */
export interface SeqrResellerCredentials {
  readonly id: string;
  /** The reseller user, `9900` in SEQR's documents. */
  readonly userId: string;
  readonly password: string;
}

export interface SeqrClientOptions {
  /** The SOAP endpoint, e.g. `https://extdev.seqr.com/soap/merchant/cashregister-2`. */
  readonly endpoint: string;
  /** Needed for every terminal operation (all but registerTerminal, markTransactionPeriod, executeReport). */
  readonly terminal?: SeqrTerminalCredentials;
  /** Needed for registerTerminal, markTransactionPeriod and executeReport. */
  readonly reseller?: SeqrResellerCredentials;
  /** Hard deadline in ms of each call without its own in `deadlines` or in the call. Default 10 000. */
  readonly deadlineMs?: number;
  /** Hard deadline in ms per operation, e.g. `{ getPaymentStatus: 3000 }`; a call may override it. */
  readonly deadlines?: Readonly<Partial<Record<SeqrOperation, number>>>;
  /** `context/channel`. Default `WS`. */
  readonly channel?: string;
  /** `context/clientId`, naming the client software. Default `seqr-vend/<package version>`. */
  readonly clientId?: string;
  /** PEM certificate(s) to trust in addition to the system roots (a private CA). */
  readonly ca?: string | Buffer | readonly (string | Buffer)[];
  /** The WSDL file. Default: the project's `daemon/seqr/cashregister.wsdl`. */
  readonly wsdlPath?: string;
}

/** Per-call options. */
export interface SeqrCallOptions {
  /** This call's hard deadline in ms, instead of its operation's. */
  readonly deadlineMs?: number;
  /** `context/clientReference` (max 32 characters). Default: a fresh random 32-hex-digit id. */
  readonly clientReference?: string;
}

export const DEFAULT_DEADLINE_MS = 10_000;

/** A resultCode-0 `return` and the HTTP status it came with. */
interface Answer {
  readonly ret: Record<string, unknown>;
  readonly httpStatus: number | undefined;
}

type AsyncMethod = (
  args: WireObject,
  options: Exchange,
  extraHeaders: Readonly<Record<string, string>>,
) => Promise<[unknown, ...unknown[]]>;

/**
 * The SEQR merchant ("cash register") SOAP client, built with the `soap` package from the
 * project's own WSDL read from disk (no network at start). Create one per process with
 * {@link SeqrClient.create} (or {@link SeqrClient.deferred}): it owns one keep-alive agent per
 * protocol, over which soap's requests go with Node's own http(s) (see `PooledHttpClient`), so
 * consecutive calls reuse one connection. A call that fails other than with a resultCode never leaves its
 * connection to the next call: that one goes out at once on a fresh connection.
 *
 * Every call:
 * - has a hard deadline (the call's, else its operation's in {@link SeqrClientOptions.deadlines},
 *   else {@link SeqrClientOptions.deadlineMs}): when it passes, the request is aborted and the
 *   call rejects with `E_SEQR_TIMEOUT`, even if bytes keep arriving;
 * - resolves only for resultCode 0; any other code rejects with a `SeqrResultError`
 *   (`E_SEQR_AUTH` for 20, 21, 29, 33, 37, `E_SEQR_RESULT` otherwise);
 * - rejects with a `SeqrCallError` (retryable) when the outcome is unknown: `E_SEQR_UNREACHABLE`
 *   (refused, reset, DNS, TLS), `E_SEQR_HTTP` (an HTTP error status, kept in `httpStatus`),
 *   `E_SEQR_FAULT` (a SOAP fault, `faultCode`/`faultString` kept), `E_SEQR_MALFORMED`;
 * - never retries; rejects with `E_CLOSED` after {@link SeqrClient.close}.
 * Every SEQR error carries `operation`, `httpStatus`, `faultString` and `resultName` (see
 * `SeqrFailureDetails`). TLS certificates are always verified. No message, cause or property
 * of any error holds a password; the request XML is never kept.
 */
export class SeqrClient {
  /** soap's client, once built. */
  #soap: Client | undefined;
  #building: Promise<Client> | undefined;
  readonly #options: SeqrClientOptions;
  readonly #deadlineMs: number;
  readonly #clientId: string;
  readonly #sockets: SocketPool;
  /** Extra HTTP headers of every request. */
  readonly #headers: Readonly<Record<string, string>>;
  readonly #redact: (text: string) => string;
  #closed = false;

  private constructor(options: SeqrClientOptions) {
    guardSoapDebug(
      [options.terminal?.password, options.reseller?.password].filter((s) => s !== undefined),
    );
    this.#options = options;
    this.#deadlineMs = options.deadlineMs ?? DEFAULT_DEADLINE_MS;
    this.#clientId = options.clientId ?? `seqr-vend/${packageInfo().version}`;
    this.#headers = { 'User-Agent': this.#clientId };
    const extraCa = options.ca === undefined ? [] : [options.ca].flat();
    this.#sockets = new SocketPool(
      extraCa.length === 0 ? {} : { ca: [...rootCertificates, ...extraCa] },
    );
    this.#redact = redactor(
      [options.terminal?.password, options.reseller?.password].filter(
        (s): s is string => s !== undefined,
      ),
    );
  }

  /**
   * Builds the client from the WSDL on disk. Rejects with E_CONFIG_INVALID if the WSDL cannot be
   * read or parsed.
   */
  static async create(options: SeqrClientOptions): Promise<SeqrClient> {
    const client = new SeqrClient(options);
    await client.prepare();
    return client;
  }

  /**
   * A client that loads the `soap` package and reads and parses the WSDL at its first call or
   * {@link prepare}, whichever comes first, so that a start-up need not wait for them (about a
   * fifth of the daemon's CPU before READY=1). A call while that fails rejects with
   * E_CONFIG_INVALID; the next call tries again.
   */
  static deferred(options: SeqrClientOptions): SeqrClient {
    return new SeqrClient(options);
  }

  /**
   * Builds the soap client now unless built. Resolves once it is; rejects with E_CONFIG_INVALID
   * if the WSDL cannot be read or parsed.
   */
  async prepare(): Promise<void> {
    await this.#soapClient();
  }

  #soapClient(): Promise<Client> {
    this.#building ??= this.#build().then(
      (client) => (this.#soap = client),
      (err: unknown) => {
        this.#building = undefined;
        throw err;
      },
    );
    return this.#building;
  }

  async #build(): Promise<Client> {
    const wsdl = this.#options.wsdlPath ?? defaultWsdlPath();
    try {
      const { default: soap } = await import('soap');
      return await soap.createClientAsync(wsdl, {
        endpoint: this.#options.endpoint,
        disableCache: true,
        httpClient: new PooledHttpClient(this.#sockets, new soap.HttpClient()),
        // xs:decimal stays text (money is exact); dates stay as sent.
        customDeserializer: {
          decimal: (text: string) => text,
          dateTime: (text: string) => text,
          date: (text: string) => text,
        },
      });
    } catch (err) {
      throw new VendError('E_CONFIG_INVALID', `the SEQR WSDL ${wsdl} cannot be read or parsed`, {
        cause: err,
      });
    }
  }

  /** The endpoint calls go to. */
  get endpoint(): string {
    return this.#options.endpoint;
  }

  /** Releases the kept-alive connections. Later calls reject with E_CLOSED. Idempotent. */
  close(): void {
    this.#closed = true;
    this.#sockets.destroy();
  }

  /** sendInvoice: registers the invoice; resolves with SEQR's reference and QR text. */
  async sendInvoice(
    invoice: SeqrInvoice,
    tokens: readonly SeqrCustomerToken[] = [],
    options?: SeqrCallOptions,
  ): Promise<{ readonly invoiceReference: string; readonly invoiceQRCode?: string }> {
    const { ret, httpStatus } = await this.#call(
      'sendInvoice',
      {
        context: this.#context('terminal', options),
        invoice: invoiceWire(invoice),
        ...(tokens.length === 0 ? {} : { tokens: tokensWire(tokens) }),
      },
      options,
    );
    const invoiceReference = requiredText('sendInvoice', ret, 'invoiceReference', httpStatus);
    const qr = ret['invoiceQRCode'];
    return typeof qr === 'string' ? { invoiceReference, invoiceQRCode: qr } : { invoiceReference };
  }

  /**
   * getPaymentStatus. `invoiceVersion` is the version of the last answer seen (0 at first); a
   * PAID answer is what commits the payment at SEQR.
   */
  async getPaymentStatus(
    invoiceReference: string,
    invoiceVersion: number,
    options?: SeqrCallOptions,
  ): Promise<SeqrPaymentStatus> {
    const { ret, httpStatus } = await this.#call(
      'getPaymentStatus',
      { context: this.#context('terminal', options), invoiceReference, invoiceVersion },
      options,
    );
    return paymentStatusOf(ret, httpStatus);
  }

  /** updateInvoice: replaces an unpaid invoice's content (or acknowledges loyalty tokens). */
  async updateInvoice(
    invoiceReference: string,
    invoice: SeqrInvoice,
    tokens: readonly SeqrCustomerToken[] = [],
    options?: SeqrCallOptions,
  ): Promise<void> {
    await this.#call(
      'updateInvoice',
      {
        context: this.#context('terminal', options),
        invoiceReference,
        invoice: invoiceWire(invoice),
        ...(tokens.length === 0 ? {} : { tokens: tokensWire(tokens) }),
      },
      options,
    );
  }

  /** cancelInvoice. Codes 50, 51, 95 (and 48) reject as SeqrResultError like any other. */
  async cancelInvoice(invoiceReference: string, options?: SeqrCallOptions): Promise<void> {
    await this.#call(
      'cancelInvoice',
      { context: this.#context('terminal', options), invoiceReference },
      options,
    );
  }

  /** commitReservation of a RESERVED invoice, with the final amount when it differs (2.9+). */
  async commitReservation(
    invoiceReference: string,
    amount?: Money,
    options?: SeqrCallOptions,
  ): Promise<void> {
    await this.#call(
      'commitReservation',
      {
        context: this.#context('terminal', options),
        ...(amount === undefined ? {} : { amount: amountWire(amount) }),
        invoiceReference,
      },
      options,
    );
  }

  /** submitPaymentReceipt for a payment's (or a refund's) ersReference. */
  async submitPaymentReceipt(
    ersReference: string,
    document: SeqrReceiptDocument,
    options?: SeqrCallOptions,
  ): Promise<void> {
    await this.#call(
      'submitPaymentReceipt',
      {
        context: this.#context('terminal', options),
        ersReference,
        receiptDocument: {
          mimeType: document.mimeType,
          receiptData: document.receiptData,
          receiptType: document.receiptType,
        },
      },
      options,
    );
  }

  /** refundPayment; `invoice.totalAmount` is the amount to refund. Resolves with the refund's reference. */
  async refundPayment(
    ersReference: string,
    invoice: SeqrInvoice,
    options?: SeqrCallOptions,
  ): Promise<{ readonly ersReference: string }> {
    const { ret, httpStatus } = await this.#call(
      'refundPayment',
      { context: this.#context('terminal', options), ersReference, invoice: invoiceWire(invoice) },
      options,
    );
    return { ersReference: requiredText('refundPayment', ret, 'ersReference', httpStatus) };
  }

  /** registerTerminal (reseller credentials); `password` is the new terminal's password. */
  async registerTerminal(
    terminal: {
      readonly externalTerminalId: string;
      readonly password: string;
      readonly name: string;
    },
    options?: SeqrCallOptions,
  ): Promise<{ readonly terminalId: string }> {
    const { ret, httpStatus } = await this.#call(
      'registerTerminal',
      {
        context: this.#context('reseller', options),
        externalTerminalId: terminal.externalTerminalId,
        password: terminal.password,
        name: terminal.name,
      },
      options,
      [terminal.password],
    );
    return { terminalId: requiredText('registerTerminal', ret, 'terminalId', httpStatus) };
  }

  /** unregisterTerminal: the terminal unregisters itself with its own credentials. */
  async unregisterTerminal(options?: SeqrCallOptions): Promise<void> {
    await this.#call(
      'unregisterTerminal',
      { context: this.#context('terminal', options) },
      options,
    );
  }

  /** assignSeqrId: links the terminal to the static sticker `HTTP://SEQR.SE/Q<seqrId>`. */
  async assignSeqrId(seqrId: string, options?: SeqrCallOptions): Promise<void> {
    await this.#call(
      'assignSeqrId',
      { context: this.#context('terminal', options), seqrId },
      options,
    );
  }

  /**
   * markTransactionPeriod (reseller credentials): closes the reconciliation period, for one
   * terminal when `parameters` holds `TERMINALID`. Resolves with the closed period's id.
   */
  async markTransactionPeriod(
    parameters: Readonly<Record<string, string>> = {},
    options?: SeqrCallOptions,
  ): Promise<{ readonly transactionPeriodId: string }> {
    const { ret, httpStatus } = await this.#call(
      'markTransactionPeriod',
      {
        context: this.#context('reseller', options),
        ...(Object.keys(parameters).length === 0 ? {} : { parameters: parametersWire(parameters) }),
      },
      options,
    );
    return {
      transactionPeriodId: requiredText(
        'markTransactionPeriod',
        ret,
        'transactionPeriodId',
        httpStatus,
      ),
    };
  }

  /** executeReport (reseller credentials). resultCode 2 (REPORT_NOT_READY) rejects, retryable. */
  async executeReport(
    request: {
      readonly reportId: string;
      readonly language?: string;
      readonly parameters?: Readonly<Record<string, string>>;
    },
    options?: SeqrCallOptions,
  ): Promise<SeqrReport> {
    const { ret, httpStatus } = await this.#call(
      'executeReport',
      {
        context: this.#context('reseller', options),
        reportId: request.reportId,
        ...(request.language === undefined ? {} : { language: request.language }),
        ...(request.parameters === undefined
          ? {}
          : { parameters: parametersWire(request.parameters) }),
      },
      options,
    );
    return reportOf(ret, httpStatus);
  }

  /** benchmarkingNop: a call without credentials that SEQR answers with SUCCESS. */
  async benchmarkingNop(options?: SeqrCallOptions): Promise<void> {
    await this.#call('benchmarkingNop', {}, options);
  }

  #context(as: 'terminal' | 'reseller', options: SeqrCallOptions | undefined): WireObject {
    let principal: SeqrPrincipal;
    let password: string;
    if (as === 'terminal') {
      const t = this.#options.terminal;
      if (!t)
        throw new VendError('E_CONFIG_INVALID', 'SEQR terminal credentials are not configured');
      principal = { type: 'TERMINALID', id: t.id };
      password = t.password;
    } else {
      const r = this.#options.reseller;
      if (!r)
        throw new VendError('E_CONFIG_INVALID', 'SEQR reseller credentials are not configured');
      principal = { type: 'RESELLERUSER', id: r.id, userId: r.userId };
      password = r.password;
    }
    return contextWire({
      channel: this.#options.channel ?? 'WS',
      clientId: this.#clientId,
      clientReference: options?.clientReference ?? randomUUID().replace(/-/g, ''),
      principal,
      password,
    });
  }

  async #call(
    operation: SeqrOperation,
    args: WireObject,
    options: SeqrCallOptions | undefined,
    extraSecrets: readonly string[] = [],
  ): Promise<Answer> {
    if (this.#closed) throw new VendError('E_CLOSED', `SEQR ${operation}: the client is closed`);
    const redact =
      extraSecrets.length === 0
        ? this.#redact
        : (text: string) => redactor(extraSecrets)(this.#redact(text));
    const deadlineMs =
      options?.deadlineMs ?? this.#options.deadlines?.[operation] ?? this.#deadlineMs;
    const soap = this.#soap ?? (await this.#soapClient());
    const exchange = new Exchange(deadlineMs);
    const method = soap[`${operation}Async`] as AsyncMethod;
    try {
      const [parsed] = await method.call(soap, args, exchange, this.#headers);
      const { httpStatus } = exchange;
      return { ret: readReturn(operation, parsed, redact, httpStatus), httpStatus };
    } catch (err) {
      const failure =
        err instanceof VendError
          ? err
          : classifyFailure(err, {
              operation,
              deadlineMs,
              timedOut: exchange.timedOut,
              redact,
              ...(exchange.httpStatus === undefined ? {} : { httpStatus: exchange.httpStatus }),
            });
      // An answer with a resultCode came over a sound exchange; anything else may have left the
      // connection hung or out of step.
      if (!(failure instanceof SeqrResultError)) this.#sockets.retire(exchange.socket);
      throw failure ?? err;
    } finally {
      // The last request is the full XML with the password: do not leave it on the client.
      delete soap.lastRequest;
      delete soap.lastMessage;
    }
  }
}
