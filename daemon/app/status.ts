/** What the daemon reports about itself: `seqr-vend status` and systemd's STATUS= line. */
import type { Config } from '../../config/schema.js';
import type { State } from '../core/types.js';
import { errorCodeOf } from '../errors.js';
import type { SqliteLedger } from '../ledger/sqlite-ledger.js';
import type { Clock } from '../ports/clock.js';
import type { Printer } from '../ports/printer.js';
import type { FleetStatus } from '../fleet/agent.js';
import type { Runtime } from '../runtime/runtime.js';
import type { SeqrHealth } from './seqr.js';

/** What `seqr-vend status` shows, through the control socket. */
export interface StatusSnapshot {
  readonly mode: Config['mode'];
  readonly machine: string;
  readonly state: string;
  readonly status: string;
  readonly transaction?: {
    readonly txId: string;
    readonly slot: number;
    readonly product: string;
    readonly invoiceReference?: string;
  };
  readonly seqr: {
    readonly endpoint: string;
    readonly reachable: boolean | null;
    readonly lastCallAt: string | null;
    readonly lastRoundTripMs: number | null;
    readonly lastError: string | null;
  };
  readonly printer: string;
  readonly today: {
    readonly sales: number;
    readonly totalMinor: number;
    readonly currency: string;
  };
  readonly pending: number;
  readonly uptimeS: number;
  /** The catalogue as sold (file + remote changes); `stock` as counted now (null: not counted). */
  readonly catalog: {
    readonly products: readonly {
      readonly slot: number;
      readonly name: string;
      readonly price: string;
      readonly enabled: boolean;
      readonly stock: number | null;
    }[];
    readonly maintenance: boolean;
  };
  /** The fleet broker link, when `fleet` is configured. */
  readonly fleet?: FleetStatus;
  /** The kiosk page, with the token remote browsers need (`kiosk.allowRemote`). */
  readonly kiosk?: { readonly url: string; readonly token?: string };
}

export interface StatusSources {
  readonly config: Config;
  readonly clock: Clock;
  /** When start-up began, by {@link clock}. */
  readonly startedAt: number;
  readonly runtime: Runtime;
  readonly ledger: SqliteLedger;
  readonly printer: Printer;
  readonly health: SeqrHealth;
  readonly endpoint: string;
  /** The catalogue and the fleet link's status, for the `catalog` and `fleet` fields. */
  readonly catalog: () => StatusSnapshot['catalog'];
  readonly fleet: () => FleetStatus | undefined;
  readonly kiosk?: StatusSnapshot['kiosk'];
}

/** The daemon's status, read afresh from its parts at each call. */
export function statusReader(sources: StatusSources): () => Promise<StatusSnapshot> {
  const { config, clock, startedAt, runtime, ledger, printer, health, endpoint, kiosk } = sources;
  return async () => {
    const state = runtime.state();
    const tx = transactionOf(state);
    const fleet = sources.fleet();
    const dayStart = new Date(clock.now());
    dayStart.setHours(0, 0, 0, 0);
    const today = ledger.paidBetween(dayStart.getTime() - 1, clock.now());
    const printerState = await printer
      .state()
      .catch((err: unknown) => errorCodeOf(err) ?? 'E_UNEXPECTED');
    return {
      mode: config.mode,
      machine: config.machine.name,
      state: state.kind,
      status: statusLine(state),
      ...(tx ? { transaction: tx } : {}),
      seqr: health.snapshot(endpoint),
      printer: printerState,
      today: { sales: today.count, totalMinor: today.totalMinor, currency: config.currency },
      pending: (await ledger.openTransactions()).size,
      uptimeS: Math.round((clock.now() - startedAt) / 1000),
      catalog: sources.catalog(),
      ...(fleet ? { fleet } : {}),
      ...(kiosk ? { kiosk } : {}),
    };
  };
}

/** The open transaction of a state, for `status`. */
export function transactionOf(state: State): StatusSnapshot['transaction'] {
  if (state.kind === 'session') {
    const { session } = state;
    return {
      txId: session.txId,
      slot: 0,
      product: 'Pay first, then choose',
      ...('invoice' in session ? { invoiceReference: session.invoice.reference } : {}),
    };
  }
  if (!('purchase' in state)) return undefined;
  const { purchase } = state;
  return {
    txId: purchase.txId,
    slot: purchase.product.slot,
    product: purchase.product.name,
    ...('invoice' in state ? { invoiceReference: state.invoice.reference } : {}),
  };
}

const OUT_OF_SERVICE: Readonly<Record<string, string>> = {
  seqrUnreachable: 'SEQR unreachable',
  seqrCredentials: 'SEQR refused the terminal credentials',
  hardwareFault: 'hardware fault',
  starting: 'starting',
  maintenance: 'maintenance',
};

/** The STATUS= line `systemctl status` shows. */
export function statusLine(state: State): string {
  switch (state.kind) {
    case 'starting':
      return 'starting: recovering open transactions';
    case 'idle':
    case 'notice':
      return 'idle';
    case 'invoicing':
      return `issuing invoice for slot ${String(state.purchase.product.slot)}`;
    case 'awaitingPayment':
      return `awaiting payment ${state.invoice.reference}`;
    case 'cancelling':
      return `cancelling ${state.invoice.reference}`;
    case 'dispensing':
      return `dispensing slot ${String(state.purchase.product.slot)} for ${state.invoice.reference}`;
    case 'refunding':
      return `refunding ${state.invoice.reference}`;
    case 'finishing':
      return `finishing ${state.invoice.reference}`;
    case 'outOfService':
      return `out of service: ${OUT_OF_SERVICE[state.reason] ?? state.reason}`;
    case 'maintenance':
      return 'out of service: maintenance';
    case 'session':
      return `pay first, then choose: ${state.session.kind}${'invoice' in state.session ? ` ${state.session.invoice.reference}` : ''}`;
  }
}
