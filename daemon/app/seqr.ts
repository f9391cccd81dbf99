/**
 * SEQR for the daemon: the in-process simulator or the configured endpoint, the terminal and
 * reseller credentials, the SOAP client and the payment gateway, watched for `status`.
 */
import { readFile } from 'node:fs/promises';
import {
  CredentialError,
  readResellerPassword,
  readTerminalPassword,
} from '../../config/credentials.js';
import type { Config } from '../../config/schema.js';
import type { SeqrSimulator } from '../../simulator/types.js';
import { VendError, errorCodeOf } from '../errors.js';
import type { ReconciliationGateway } from '../ledger/end-of-day.js';
import type { Logger, SecretSet } from '../log.js';
import type { Clock } from '../ports/clock.js';
import type { PaymentGateway } from '../ports/payment-gateway.js';
import { SeqrResultError } from '../seqr/call-errors.js';
import { SeqrClient, type SeqrResellerCredentials } from '../seqr/client.js';
import { SeqrPaymentGateway } from '../seqr/gateway.js';
import type { StatusSnapshot } from './status.js';
import type { StopOrder } from './stop-order.js';

export interface Seqr {
  /** The SOAP endpoint in use: the configured one, or the in-process simulator's. */
  readonly endpoint: string;
  readonly terminal: { readonly id: string; readonly password: string };
  /** Absent when no reseller credential is configured or readable: no end-of-day reports. */
  readonly reseller: SeqrResellerCredentials | undefined;
  readonly client: SeqrClient;
  /** The payment gateway, every call noted in {@link health}. */
  readonly gateway: PaymentGateway;
  readonly health: SeqrHealth;
  /** The in-process SEQR simulator (demo mode without `seqr.endpoint`). */
  readonly simulator: SeqrSimulator | undefined;
}

export interface SeqrDeps {
  readonly env: NodeJS.ProcessEnv;
  readonly clock: Clock;
  readonly log: Logger;
  /** The credentials read are registered here, so no log line carries them. */
  readonly secrets: SecretSet;
  readonly stopOrder: StopOrder;
}

/**
 * Opens SEQR: in demo mode without `seqr.endpoint` the in-process simulator, else the configured
 * endpoint with the terminal credential from the credentials directory, in demo mode too (the
 * simulator's own password goes with the built-in simulator only). Rejects with E_CONFIG_INVALID
 * when the endpoint or terminal id is missing, a credential cannot be used (the message says why;
 * an absent reseller credential only turns end-of-day reports off) or the CA file cannot be read.
 */
export async function openSeqr(config: Config, deps: SeqrDeps): Promise<Seqr> {
  const { env, clock, log, secrets, stopOrder } = deps;
  const demo = config.mode === 'demo';
  let simulator: SeqrSimulator | undefined;
  let endpoint = config.seqr.endpoint;
  let terminal: { id: string; password: string };
  let reseller: SeqrResellerCredentials | undefined;
  if (demo && endpoint === undefined) {
    // Imported only here: a machine that talks to a real SEQR never loads the simulator.
    const { startSimulator } = await import('../../simulator/index.js');
    simulator = await startSimulator({
      host: '127.0.0.1',
      port: 0,
      clock,
      // The simulated SEQR knows the merchant of the machine's UPS code.
      ...(config.ups ? { ups: { merchantId: config.ups.merchantId } } : {}),
    });
    const sim = simulator;
    stopOrder.add(() => sim.close());
    endpoint = sim.soapUrl;
    terminal = { ...sim.terminal };
    reseller = { ...sim.reseller };
  } else {
    if (endpoint === undefined || config.seqr.terminalId === undefined)
      throw new VendError(
        'E_CONFIG_INVALID',
        'seqr.endpoint and seqr.terminalId are required (in demo mode, terminalId whenever endpoint is set)',
      );
    const password = await readTerminalPassword(config, env);
    terminal = { id: config.seqr.terminalId, password };
    if (config.seqr.reseller)
      reseller = await readResellerPassword(config, env).then(
        (password) => ({ ...config.seqr.reseller, password }) as SeqrResellerCredentials,
        (err: unknown) => {
          // Optional, so it may be absent; a file that is there must be usable.
          if (!(err instanceof CredentialError) || !err.missing) throw err;
          log.warn(
            { code: err.code, reason: err.message },
            'no reseller password: end-of-day reports are off',
          );
          return undefined;
        },
      );
  }
  secrets.add(terminal.password);
  if (reseller) secrets.add(reseller.password);

  // soap and the WSDL are loaded at the first call, or just after READY=1 (startApp).
  const client = SeqrClient.deferred({
    endpoint,
    terminal,
    ...(reseller ? { reseller } : {}),
    deadlines: config.seqr.deadlines,
    ...(config.seqr.caFile ? { ca: await readCa(config.seqr.caFile) } : {}),
  });
  stopOrder.add(() => {
    client.close();
  });
  const health = new SeqrHealth(clock);
  const gateway = health.watch(new SeqrPaymentGateway(client, { clock }));
  return { endpoint, terminal, reseller, client, gateway, health, simulator };
}

/** SEQR reachability and the last round-trip time, for `status`. */
export class SeqrHealth {
  readonly #clock: Clock;
  #reachable: boolean | null = null;
  #lastAt: number | null = null;
  #lastMs: number | null = null;
  #lastError: string | null = null;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** The gateway, with every call's outcome and duration noted. */
  watch(gateway: PaymentGateway): PaymentGateway {
    const timed =
      <A extends unknown[], R>(call: (...args: A) => Promise<R>) =>
      async (...args: A): Promise<R> => {
        const start = this.#clock.now();
        try {
          const result = await call(...args);
          this.#note(start, true, null);
          return result;
        } catch (err) {
          // A resultCode is an answer: SEQR was reached.
          this.#note(start, err instanceof SeqrResultError, errorCodeOf(err) ?? 'E_UNEXPECTED');
          throw err;
        }
      };
    return {
      issueInvoice: timed(gateway.issueInvoice.bind(gateway)),
      getStatus: timed(gateway.getStatus.bind(gateway)),
      cancelInvoice: timed(gateway.cancelInvoice.bind(gateway)),
      submitReceipt: timed(gateway.submitReceipt.bind(gateway)),
      refund: timed(gateway.refund.bind(gateway)),
      updateInvoice: timed(gateway.updateInvoice.bind(gateway)),
      commitReservation: timed(gateway.commitReservation.bind(gateway)),
    };
  }

  snapshot(endpoint: string): StatusSnapshot['seqr'] {
    return {
      endpoint,
      reachable: this.#reachable,
      lastCallAt: this.#lastAt === null ? null : new Date(this.#lastAt).toISOString(),
      lastRoundTripMs: this.#lastMs,
      lastError: this.#lastError,
    };
  }

  #note(start: number, reached: boolean, error: string | null): void {
    this.#reachable = reached;
    this.#lastAt = start;
    this.#lastMs = this.#clock.now() - start;
    this.#lastError = error;
  }
}

/** The reconciliation calls of the SOAP client, for the end-of-day worker. */
export function reconciliationGateway(client: SeqrClient): ReconciliationGateway {
  return {
    async markPeriod(terminalId) {
      const { transactionPeriodId } = await client.markTransactionPeriod({
        TERMINALID: terminalId,
      });
      return transactionPeriodId;
    },
    async executeReport(periodId, reportId, terminalId) {
      try {
        const report = await client.executeReport({
          reportId,
          parameters: { transactionPeriodId: periodId, TERMINALID: terminalId },
        });
        const content =
          report.contentString ??
          (report.content === undefined
            ? ''
            : Buffer.from(report.content, 'base64').toString('utf8'));
        return {
          kind: 'ready',
          report: {
            content,
            ...(report.title === undefined ? {} : { title: report.title }),
            ...(report.mimeType === undefined ? {} : { mimeType: report.mimeType }),
          },
        };
      } catch (err) {
        if (err instanceof SeqrResultError && err.resultCode === 2) return { kind: 'notReady' };
        throw err;
      }
    },
  };
}

async function readCa(file: string): Promise<Buffer> {
  return readFile(file).catch((err: unknown) => {
    throw new VendError('E_CONFIG_INVALID', `seqr.caFile ${file} cannot be read`, { cause: err });
  });
}
