/**
 * The fleet part of the composition root: the catalogue (file + remote changes), and, with
 * `fleet` configured, the fleet agent over the daemon's implementation of its port (imported
 * only then). Without `fleet`, the ledger keeps only the newest sale events for a broker
 * configured later.
 */
import type { z } from 'zod';
import type { Overlay } from '../../config/overlay.js';
import type { Config } from '../../config/schema.js';
import type { FleetAgent } from '../fleet/agent.js';
import type { Catalog } from '../fleet/catalog.js';
import {
  SEQR_NOTIFY,
  UPS_PURCHASE,
  seqrNotifyRequest,
  upsPurchaseRequest,
} from '../gateway/protocol.js';
import { parseDecimal } from '../ports/money.js';
import { closePeriod } from '../ledger/end-of-day.js';
import type { SqliteLedger } from '../ledger/sqlite-ledger.js';
import type { Logger, SecretSet } from '../log.js';
import type { Clock } from '../ports/clock.js';
import type { Dispenser } from '../ports/dispenser.js';
import type { Runtime } from '../runtime/runtime.js';
import { packageInfo } from '../package-root.js';
import { coreProducts } from './core-config.js';
import { reconciliationGateway, type Seqr } from './seqr.js';
import type { StatusSnapshot } from './status.js';
import type { StopOrder } from './stop-order.js';

export interface FleetDeps {
  readonly env: NodeJS.ProcessEnv;
  readonly clock: Clock;
  readonly log: Logger;
  readonly secrets: SecretSet;
  readonly stopOrder: StopOrder;
  readonly seqr: Seqr;
  readonly ledger: SqliteLedger;
  readonly runtime: Runtime;
  readonly dispenser: Dispenser;
  readonly catalog: Catalog;
  readonly status: () => Promise<StatusSnapshot>;
  readonly startedAt: number;
}

/** Sale events a machine without a broker keeps (for a fleet configured later). */
const UNSENT_SALES_KEPT = 1_000;

/** Starts the fleet agent when `fleet` is configured; registers it with the stop order. */
export async function startFleetLink(
  config: Config,
  deps: FleetDeps,
): Promise<FleetAgent | undefined> {
  const { clock, log, seqr, ledger, runtime, dispenser, catalog, stopOrder } = deps;
  if (config.fleet === undefined) {
    ledger.trimOutbox(UNSENT_SALES_KEPT);
    return undefined;
  }
  // Imported only here: a machine without a broker never loads the MQTT client.
  const [{ createDaemonMachine }, { startFleet }] = await Promise.all([
    import('../fleet/daemon-machine.js'),
    import('../fleet/start.js'),
  ]);
  const machine = createDaemonMachine({
    status: deps.status,
    fullStatus: deps.status,
    soldOut: () => runtime.state().soldOut,
    stock: (slot) => dispenser.stock(slot),
    onTransition: (listener) =>
      runtime.onTransition(({ event }) => {
        listener(event.type === 'ledger.recorded' && event.entry.type === 'tx.closed');
      }),
    ledger,
    catalog,
    live: {
      catalog: (products) => {
        runtime.changeCatalog(coreProducts(config, products));
      },
      maintenance: (on) => {
        runtime.setMaintenance(on);
      },
      refill: (slot, count) => {
        runtime.refill(slot, count);
      },
    },
    currency: config.currency,
    terminalId: seqr.terminal.id,
    ...(seqr.reseller === undefined
      ? {}
      : {
          endOfDay: () =>
            closePeriod({
              ledger,
              reconciliation: reconciliationGateway(seqr.client),
              clock,
              logger: log.child({ component: 'endOfDay' }),
              terminalId: seqr.terminal.id,
            }),
        }),
    refunds: {
      gateway: seqr.gateway,
      logger: log.child({ component: 'refunds' }),
      cashierId: config.machine.name,
    },
    clock,
    startedAt: deps.startedAt,
  });
  const agent = await startFleet({
    fleet: config.fleet,
    credentialsDirectory: config.credentialsDirectory,
    env: deps.env,
    machine,
    clock,
    log: log.child({ component: 'fleet' }),
    device: {
      name: config.machine.name,
      swVersion: packageInfo().version,
      currency: config.currency,
      slots: config.products.map((p) => ({ slot: p.slot, name: p.name })),
    },
    onSecret: (secret) => {
      deps.secrets.add(secret);
    },
  });
  if (config.gateway) serveGateway(agent.requests, runtime);
  stopOrder.add(() => agent.stop());
  return agent;
}

/** Where requests are handled: the fleet's request router, or demo mode's local relay. */
export interface RequestHandlers {
  handle<S extends z.ZodType>(
    name: string,
    handler: {
      readonly schema: S;
      readonly lane?: string;
      run(body: z.output<S>): Promise<unknown>;
    },
  ): void;
}

/**
 * The machine's side of the SEQR callback gateway: createPurchase (UPS) and notifications arrive
 * as requests over the broker, on a lane of their own (never behind an operator command), and
 * the core answers them.
 */
export function serveGateway(requests: RequestHandlers, runtime: Runtime): void {
  requests.handle(UPS_PURCHASE, {
    schema: upsPurchaseRequest,
    lane: 'seqr',
    run: (b) =>
      runtime.createPurchase({ minor: parseDecimal(b.amount) ?? 0, currency: b.currency }),
  });
  requests.handle(SEQR_NOTIFY, {
    schema: seqrNotifyRequest,
    lane: 'seqr-notify',
    run: (b) => runtime.notify(b.invoiceReference),
  });
}

/** The catalogue as `status` shows it, with the dispenser's count of each slot. */
export function catalogView(
  catalog: Catalog,
  stock: (slot: number) => number | undefined,
): StatusSnapshot['catalog'] {
  return {
    products: catalog.products().map((p) => ({
      slot: p.slot,
      name: p.name,
      price: p.price,
      enabled: p.enabled,
      stock: stock(p.slot) ?? null,
    })),
    maintenance: catalog.maintenance,
  };
}

/**
 * The configuration with each remotely refilled slot's stock as it is now: the refill's count
 * less the deliveries the ledger recorded for the slot since (purchases opened after the refill).
 */
export function stockSinceRefills(
  config: Config,
  overlay: Overlay,
  ledger: Pick<SqliteLedger, 'transactions'>,
): Config {
  const products = config.products.map((p) => {
    const at = overlay.refilledAt[String(p.slot)];
    if (at === undefined || p.stock === undefined) return p;
    const delivered = ledger
      .transactions({ since: at, slot: p.slot })
      .filter((t) => t.dispense === 'delivered' && t.probe !== true).length;
    return { ...p, stock: Math.max(0, p.stock - delivered) };
  });
  return { ...config, products };
}
