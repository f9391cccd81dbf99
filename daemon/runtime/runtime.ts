import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { CoreConfig, ProductConfig } from '../core/config.js';
import { createCore } from '../core/step.js';
import type {
  Effect,
  Event,
  PaymentOp,
  RequestAnswer,
  State,
  TimerName,
  Transition,
} from '../core/types.js';
import { VendError, failureOf, type Failure } from '../errors.js';
import type { Buttons } from '../ports/buttons.js';
import type { Clock, TimerHandle } from '../ports/clock.js';
import type { Dispenser } from '../ports/dispenser.js';
import type { Display } from '../ports/display.js';
import type { Ledger, LedgerEntry, StoredEntry } from '../ports/ledger.js';
import type { Money } from '../ports/money.js';
import type { PaymentGateway } from '../ports/payment-gateway.js';
import type { Printer } from '../ports/printer.js';

/** Everything the runtime drives. The composition root builds the adapters; tests pass fakes. */
export interface RuntimeDeps {
  readonly gateway: PaymentGateway;
  readonly buttons: Buttons;
  readonly dispenser: Dispenser;
  readonly display: Display;
  readonly printer: Printer;
  readonly ledger: Ledger;
  readonly clock: Clock;
  readonly log: Logger;
  readonly config: CoreConfig;
  /** Transaction ids, one per button press that may start a purchase. Default: random UUIDs. */
  readonly newTxId?: () => string;
  /**
   * How long `stop()` waits for a running dispense before forcing the outputs safe, and for
   * refund calls in flight to be answered (so their outcome is recorded). Default 15 s.
   */
  readonly stopDispenseWaitMs?: number;
}

/** One processed event: where the core was, what happened, where it is, what it asked for. */
export interface TransitionRecord {
  readonly from: State;
  readonly event: Event;
  readonly to: State;
  readonly effects: readonly Effect[];
}

export interface Runtime {
  /**
   * Subscribes to the buttons, shows the start-up screen, reads the ledger's open transactions
   * and the receipts SEQR still owes an answer to and hands them to the core (recovery), then
   * reports the dispenser's stock. Resolves once
   * recovery has been decided; rejects (after releasing what it opened) when the ledger cannot
   * be read: the daemon must not trade without its record.
   */
  start(): Promise<void>;
  /**
   * Stops taking input, lets a running dispense finish and refund calls in flight be answered
   * (their outcomes recorded), waits for pending ledger writes, cancels every timer, drives the
   * dispenser to its safe state and closes
   * the adapters in reverse order (buttons, dispenser, printer, display, ledger). A failing close
   * is logged and the others still run; it then rejects with the first error. Idempotent.
   */
  stop(): Promise<void>;
  /**
   * The operator's live changes (fleet commands), each handed to the core as an event once the
   * caller has stored it durably: the catalogue new purchases sell (a purchase in progress keeps
   * its product and price), maintenance mode, and a slot's refill (the dispenser's counter, then
   * the sold-out slots again). `refill` throws the dispenser's RangeError for a slot or count it
   * cannot hold, before anything changed. Ignored once stopping.
   */
  changeCatalog(products: readonly ProductConfig[]): void;
  setMaintenance(on: boolean): void;
  refill(slot: number, count: number): void;
  /** The core's current state. */
  state(): State;
  /** Called after every processed event (also ignored ones); returns the unsubscribe function. */
  onTransition(listener: (record: TransitionRecord) => void): () => void;
  /**
   * SEQR's createPurchase for this machine (pay first, then choose): a payer offers to reserve up
   * to `offered`. Resolves with the reservation invoice's reference once it is sent and recorded,
   * or with SEQR's refusal code (DEVICE_IN_USE while busy, ...). DEVICE_UNAVAILABLE before start
   * and after stop.
   */
  createPurchase(offered: Money): Promise<RequestAnswer>;
  /**
   * SEQR's notification about invoice `reference`: the open invoice with that reference is polled
   * at once (never two calls out). Resolves `{known}`: whether it was the open one.
   */
  notify(reference: string): Promise<RequestAnswer>;
}

/** Status of this reference is asked to learn whether SEQR answers (out-of-service probe). */
export const PROBE_REFERENCE = '0';

/**
 * Runs the vending core: one event at a time (a mailbox, each event run to completion through
 * `step`), effects through the ports, their results and failures back as events.
 *
 * Effects start in the order the core listed them and never block the mailbox. Ledger writes are
 * serialised in that order; the payment, dispenser, printer and display effects listed after a
 * `ledger.record` in the same step start only once it is durable and are skipped if it failed
 * (a record authorises what follows it: the pay screen's QR appears only once its invoice is
 * recorded). A held-back screen is dropped when a newer one was shown meanwhile. Timers and logs
 * are never held back.
 */
export function createRuntime(deps: RuntimeDeps): Runtime {
  const { gateway, buttons, dispenser, display, printer, ledger, clock, log, config } = deps;
  const core = createCore(config);
  const newTxId = deps.newTxId ?? randomUUID;
  const stopWaitMs = deps.stopDispenseWaitMs ?? 15_000;

  let state: State | undefined;
  const queue: Event[] = [];
  let processing = false;
  let halted = false;
  const running = (): boolean => !halted;
  let unsubscribe: (() => void) | undefined;
  let stopping: Promise<void> | undefined;
  const timers = new Map<TimerName, TimerHandle>();
  const listeners = new Set<(record: TransitionRecord) => void>();
  let ledgerTail: Promise<unknown> = Promise.resolve();
  let dispensing: Promise<unknown> | undefined;
  /** Refund and commit calls in flight: money moving, waited for at stop. */
  const refunds = new Set<Promise<unknown>>();
  /** Requests from outside waiting for the core's `request.answer`. */
  const requests = new Map<string, (answer: RequestAnswer) => void>();
  let requestSeq = 0;

  const post = (event: Event): void => {
    if (halted) return;
    queue.push(event);
    if (processing) return;
    processing = true;
    try {
      for (let next = queue.shift(); next && running(); next = queue.shift()) handle(next);
    } finally {
      processing = false;
    }
  };

  const handle = (event: Event): void => {
    const from = current();
    const t: Transition = core.step(from, event);
    state = t.state;
    logTransition(from, event, t);
    for (const listener of [...listeners])
      listener({ from, event, to: t.state, effects: t.effects });
    run(t.effects);
  };

  const current = (): State => {
    if (!state) throw new Error('runtime not started');
    return state;
  };

  const logTransition = (from: State, event: Event, t: Transition): void => {
    const to = t.state;
    if (to === from && t.effects.length === 0) {
      log.debug({ event: event.type, state: from.kind }, 'event ignored');
      return;
    }
    const purchase =
      'purchase' in to ? to.purchase : 'purchase' in from ? from.purchase : undefined;
    const invoice = 'invoice' in to ? to.invoice : 'invoice' in from ? from.invoice : undefined;
    const closed = t.effects.find(
      (e): e is Extract<Effect, { type: 'ledger.record' }> =>
        e.type === 'ledger.record' && e.entry.type === 'tx.closed',
    );
    const fields = {
      from: from.kind,
      to: to.kind,
      event: event.type,
      ...(purchase ? { txId: purchase.txId, product: purchase.product.name } : {}),
      ...(invoice ? { invoiceReference: invoice.reference } : {}),
      ...(closed?.entry.type === 'tx.closed' ? { outcome: closed.entry.outcome } : {}),
      effects: t.effects.map((e) => e.type),
    };
    if (from.kind !== to.kind) log.info(fields, 'state changed');
    else log.debug(fields, 'event handled');
  };

  const at = (): number => clock.now();

  const failure = (err: unknown): Failure => {
    if (!(err instanceof VendError))
      log.error({ err }, 'adapter failed with an error outside the catalogue');
    return failureOf(err);
  };

  const paymentFailed =
    (op: PaymentOp, txId?: string) =>
    (err: unknown): void => {
      post({
        type: 'payment.failed',
        op,
        ...(txId === undefined ? {} : { txId }),
        failure: failure(err),
        retryable: err instanceof VendError && err.retryable,
        at: at(),
      });
    };

  const soldOut = (): number[] =>
    config.products.map((p) => p.slot).filter((slot) => dispenser.stock(slot) === 0);

  const recordEntry = (entry: LedgerEntry): Promise<boolean> => {
    const write = ledgerTail.then(() => ledger.record(entry, at()));
    ledgerTail = write.catch(() => undefined);
    return write.then(
      () => {
        post({ type: 'ledger.recorded', entry, at: at() });
        return true;
      },
      (err: unknown) => {
        post({ type: 'ledger.failed', entry, failure: failure(err), at: at() });
        return false;
      },
    );
  };

  let screenSeq = 0;
  const run = (effects: readonly Effect[]): void => {
    let gate: Promise<boolean> | undefined;
    for (const effect of effects) {
      switch (effect.type) {
        case 'display.show': {
          const seq = ++screenSeq;
          if (gate)
            void gate.then((ok) => {
              // A newer screen already went out: this one would be stale.
              if (ok && seq === screenSeq) perform(effect);
            });
          else perform(effect);
          break;
        }
        case 'timer.start':
        case 'timer.cancel':
        case 'log':
        case 'request.answer':
          perform(effect);
          break;
        case 'ledger.record': {
          const write = recordEntry(effect.entry);
          gate = gate ? Promise.all([gate, write]).then(([a, b]) => a && b) : write;
          break;
        }
        case 'payment.issue':
        case 'payment.poll':
        case 'payment.cancel':
        case 'payment.refund':
        case 'payment.submitReceipt':
        case 'payment.probe':
        case 'payment.update':
        case 'payment.commit':
        case 'dispenser.dispense':
        case 'printer.print':
          if (gate)
            void gate.then((ok) => {
              if (ok) perform(effect);
              else log.warn({ effect: effect.type }, 'effect skipped: its ledger record failed');
            });
          else perform(effect);
          break;
      }
    }
  };

  const perform = (effect: Effect): void => {
    switch (effect.type) {
      case 'display.show':
        display.show(effect.screen).catch((err: unknown) => {
          post({ type: 'display.failed', failure: failure(err), at: at() });
        });
        return;
      case 'timer.start': {
        const previous = timers.get(effect.name);
        if (previous !== undefined) clock.clearTimeout(previous);
        const { name, token } = effect;
        const handle = clock.setTimeout(
          () => {
            if (timers.get(name) === handle) timers.delete(name);
            post({ type: 'timer.expired', name, token, at: at() });
          },
          Math.max(0, effect.at - clock.now()),
        );
        timers.set(name, handle);
        return;
      }
      case 'timer.cancel': {
        const handle = timers.get(effect.name);
        if (handle !== undefined) clock.clearTimeout(handle);
        timers.delete(effect.name);
        return;
      }
      case 'log':
        log[effect.level](effect.fields ?? {}, effect.msg);
        return;
      case 'ledger.record':
        void recordEntry(effect.entry);
        return;
      case 'payment.issue':
        gateway.issueInvoice(effect.request).then(
          (invoice) => {
            post({ type: 'payment.issued', txId: effect.txId, invoice, at: at() });
          },
          paymentFailed('issue', effect.txId),
        );
        return;
      case 'payment.poll':
        gateway.getStatus(effect.reference, effect.lastVersion).then(
          (status) => {
            post({ type: 'payment.statusReceived', txId: effect.txId, status, at: at() });
          },
          paymentFailed('poll', effect.txId),
        );
        return;
      case 'payment.cancel':
        gateway.cancelInvoice(effect.reference).then(
          (outcome) => {
            post({ type: 'payment.cancelAnswered', txId: effect.txId, outcome, at: at() });
          },
          paymentFailed('cancel', effect.txId),
        );
        return;
      case 'payment.refund': {
        const call = gateway.refund(effect.request).then(
          ({ refundReference }) => {
            post({ type: 'payment.refunded', txId: effect.txId, refundReference, at: at() });
          },
          paymentFailed('refund', effect.txId),
        );
        refunds.add(call);
        void call.then(() => refunds.delete(call));
        return;
      }
      case 'payment.submitReceipt':
        gateway.submitReceipt(effect.ersReference, effect.document).then(
          () => {
            post({ type: 'payment.receiptSubmitted', txId: effect.txId, at: at() });
          },
          paymentFailed('submitReceipt', effect.txId),
        );
        return;
      case 'payment.update':
        gateway.updateInvoice(effect.reference, effect.content).then(
          () => {
            post({ type: 'payment.updated', txId: effect.txId, at: at() });
          },
          paymentFailed('update', effect.txId),
        );
        return;
      case 'payment.commit': {
        const call = gateway.commitReservation(effect.reference, effect.amount).then(
          () => {
            post({ type: 'payment.committed', txId: effect.txId, at: at() });
          },
          paymentFailed('commit', effect.txId),
        );
        refunds.add(call);
        void call.then(() => refunds.delete(call));
        return;
      }
      case 'request.answer': {
        const resolve = requests.get(effect.requestId);
        requests.delete(effect.requestId);
        resolve?.(effect.answer);
        return;
      }
      case 'payment.probe':
        // The core tells an answer (even "no such invoice") from SEQR being out of reach.
        gateway.getStatus(PROBE_REFERENCE, 0).then(() => {
          post({ type: 'payment.probed', at: at() });
        }, paymentFailed('probe'));
        return;
      case 'dispenser.dispense': {
        const { txId, slot } = effect;
        const onDrop = (): void => {
          post({ type: 'dispense.dropped', txId, at: at() });
        };
        const job = dispenser.dispense(slot, { onDrop }).then(
          (result) => {
            post({ type: 'dispense.finished', txId, result, at: at() });
          },
          (err: unknown) => {
            post({ type: 'dispense.failed', txId, failure: failure(err), at: at() });
          },
        );
        dispensing = job;
        void job.then(() => {
          if (dispensing === job) dispensing = undefined;
          post({ type: 'stock.updated', soldOut: soldOut(), at: at() });
        });
        return;
      }
      case 'printer.print':
        printer.print(effect.receipt).then(
          () => {
            post({ type: 'printer.printed', txId: effect.txId, at: at() });
          },
          (err: unknown) => {
            post({ type: 'printer.failed', txId: effect.txId, failure: failure(err), at: at() });
          },
        );
        return;
    }
  };

  /** Posts the event of a request from outside; resolves with the core's answer to it. */
  const ask = (
    closed: RequestAnswer,
    event: (requestId: string) => Event,
  ): Promise<RequestAnswer> => {
    if (!state || halted || stopping) return Promise.resolve(closed);
    const requestId = `req-${++requestSeq}`;
    return new Promise<RequestAnswer>((resolve) => {
      requests.set(requestId, resolve);
      post(event(requestId));
    });
  };

  const waitOrTimeout = (work: Promise<unknown>, ms: number): Promise<boolean> =>
    new Promise<boolean>((resolve) => {
      const handle = clock.setTimeout(() => {
        resolve(false);
      }, ms);
      void work.then(() => {
        clock.clearTimeout(handle);
        resolve(true);
      });
    });

  const shutdown = async (): Promise<void> => {
    log.info({ state: state?.kind }, 'stopping');
    unsubscribe?.();
    unsubscribe = undefined;
    if (dispensing) {
      const finished = await waitOrTimeout(dispensing, stopWaitMs);
      if (!finished)
        log.error({ waitedMs: stopWaitMs }, 'dispense still running at stop: forcing outputs safe');
    }
    if (refunds.size > 0) {
      // Money may be moving: record what SEQR answers (the next start retries the rest safely).
      const answered = await waitOrTimeout(Promise.all(refunds), stopWaitMs);
      if (!answered)
        log.warn(
          { waitedMs: stopWaitMs },
          'refund still unanswered at stop: retried at the next start',
        );
    }
    await ledgerTail;
    halted = true;
    for (const resolve of requests.values()) resolve({ errorCode: 'DEVICE_UNAVAILABLE' });
    requests.clear();
    for (const handle of timers.values()) clock.clearTimeout(handle);
    timers.clear();
    const errors: unknown[] = [];
    const attempt = async (what: string, fn: () => Promise<void>): Promise<void> => {
      try {
        await fn();
      } catch (err) {
        errors.push(err);
        log.error({ err, component: what }, 'close failed');
      }
    };
    await attempt('dispenser.safeState', () => dispenser.safeState());
    await attempt('buttons', () => buttons.close());
    await attempt('dispenser', () => dispenser.close());
    await attempt('printer', () => printer.close());
    await attempt('display', () => display.close());
    await attempt('ledger', () => ledger.close());
    log.info({ errors: errors.length }, 'stopped');
    if (errors.length > 0) throw errors[0];
  };

  return {
    async start(): Promise<void> {
      if (state) throw new Error('runtime already started');
      const first = core.start(at());
      state = first.state;
      log.info({ state: state.kind }, 'starting');
      run(first.effects);
      unsubscribe = buttons.subscribe((e) => {
        if (e.type === 'pressed')
          post({ type: 'button.pressed', button: e.button, txId: newTxId(), at: at() });
        else
          log.warn(
            { button: e.button, event: e.type },
            e.type === 'stuck' ? 'button stuck' : 'button released',
          );
      });
      let open: ReadonlyMap<string, readonly StoredEntry[]>;
      let owed: ReadonlyMap<string, readonly StoredEntry[]>;
      try {
        open = await ledger.openTransactions();
        owed = await ledger.receiptsOwed();
      } catch (err) {
        log.fatal({ err }, 'ledger unreadable: refusing to trade');
        await this.stop().catch(() => undefined);
        throw err;
      }
      post({ type: 'stock.updated', soldOut: soldOut(), at: at() });
      post({
        type: 'recovery.loaded',
        transactions: [...open].map(([txId, entries]) => ({ txId, entries })),
        receiptsOwed: [...owed].map(([txId, entries]) => ({ txId, entries })),
        at: at(),
      });
    },
    stop(): Promise<void> {
      stopping ??= shutdown();
      return stopping;
    },
    changeCatalog(products) {
      post({ type: 'catalog.updated', products, at: at() });
    },
    setMaintenance(on) {
      post({ type: 'maintenance.changed', on, at: at() });
    },
    refill(slot, count) {
      dispenser.refill(slot, count);
      post({ type: 'stock.updated', soldOut: soldOut(), at: at() });
    },
    state: current,
    onTransition(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    createPurchase(offered) {
      return ask({ errorCode: 'DEVICE_UNAVAILABLE' }, (requestId) => ({
        type: 'ups.requested',
        requestId,
        txId: newTxId(),
        offered,
        at: at(),
      }));
    },
    notify(reference) {
      return ask({ known: false }, (requestId) => ({
        type: 'payment.notified',
        requestId,
        reference,
        at: at(),
      }));
    },
  };
}
