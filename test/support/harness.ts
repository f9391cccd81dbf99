import { pino, type Logger } from 'pino';
import type { CoreConfig } from '../../daemon/core/config.js';
import type { State } from '../../daemon/core/types.js';
import { MemoryLedger } from '../../daemon/ledger/memory-ledger.js';
import type { PaymentGateway } from '../../daemon/ports/payment-gateway.js';
import type { StoredEntry } from '../../daemon/ports/ledger.js';
import { ManualClock } from '../../daemon/runtime/manual-clock.js';
import {
  createRuntime,
  type Runtime,
  type TransitionRecord,
} from '../../daemon/runtime/runtime.js';
import { FakePaymentGateway } from '../../daemon/seqr/fake-gateway.js';
import { FakeButtons } from '../../hardware/buttons/fake-buttons.js';
import { FakeDispenser } from '../../hardware/dispenser/fake-dispenser.js';
import { FakeDisplay } from '../../hardware/display/fake-display.js';
import { FakePrinter } from '../../hardware/printer/fake-printer.js';
import { testConfig } from './core-config.js';

/** A JSON log line as pino wrote it. */
export type LogLine = Record<string, unknown> & { level: number; msg: string };

/** A pino logger (debug level) whose lines land in `lines`, parsed. */
export function captureLog(): { log: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const log = pino(
    { level: 'debug', base: null },
    {
      write(line: string) {
        lines.push(JSON.parse(line) as LogLine);
      },
    },
  );
  return { log, lines };
}

export interface HarnessOptions {
  readonly config?: CoreConfig;
  /** Use this gateway instead of the FakePaymentGateway (e.g. the SOAP gateway). */
  readonly gateway?: PaymentGateway;
  /** The fake SEQR to use (e.g. one that already holds invoices from before a restart). */
  readonly fake?: FakePaymentGateway;
  readonly dispenser?: FakeDispenser;
  readonly clock?: ManualClock;
  readonly ledgerEntries?: readonly StoredEntry[];
  readonly reversalMs?: number;
  /** Transaction ids start after this number (`tx-<n+1>`): a restart never reuses an id. */
  readonly firstTxNumber?: number;
  /** Log through this logger (e.g. the daemon's own) instead of collecting lines in `lines`. */
  readonly log?: Logger;
}

/** The runtime wired to fakes and a ManualClock, plus every control surface. */
export interface Harness {
  readonly clock: ManualClock;
  readonly fake: FakePaymentGateway;
  readonly gateway: PaymentGateway;
  readonly buttons: FakeButtons;
  readonly dispenser: FakeDispenser;
  readonly display: FakeDisplay;
  readonly printer: FakePrinter;
  readonly ledger: MemoryLedger;
  readonly runtime: Runtime;
  readonly lines: LogLine[];
  readonly transitions: TransitionRecord[];
  /** Current core state. */
  state(): State;
  /** Advances the clock by `ms` (in steps of at most `stepMs`), letting async work run. */
  advance(ms: number, stepMs?: number): Promise<void>;
  /** Lets pending promise callbacks run without moving the clock. */
  settle(): Promise<void>;
  pressProduct(slot: number): Promise<void>;
  pressCancel(): Promise<void>;
}

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const clock = options.clock ?? new ManualClock(1_763_800_000_000);
  const config = options.config ?? testConfig;
  const fake =
    options.fake ?? new FakePaymentGateway({ clock, reversalMs: options.reversalMs ?? 20_000 });
  const gateway = options.gateway ?? fake;
  const buttons = new FakeButtons({ clock, slots: config.products.map((p) => p.slot) });
  const dispenser =
    options.dispenser ?? new FakeDispenser({ clock, slots: config.products.map((p) => p.slot) });
  const display = new FakeDisplay();
  const printer = new FakePrinter({ clock });
  const ledger = new MemoryLedger(options.ledgerEntries);
  const captured = captureLog();
  const { lines } = captured;
  const log = options.log ?? captured.log;
  let n = options.firstTxNumber ?? 0;
  const runtime = createRuntime({
    gateway,
    buttons,
    dispenser,
    display,
    printer,
    ledger,
    clock,
    log,
    config,
    newTxId: () => `tx-${++n}`,
  });
  const transitions: TransitionRecord[] = [];
  runtime.onTransition((t) => transitions.push(t));
  const settle = async (): Promise<void> => {
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  };
  const advance = async (ms: number, stepMs = 100): Promise<void> => {
    let left = ms;
    while (left > 0) {
      const d = Math.min(stepMs, left);
      await clock.advanceAsync(d);
      left -= d;
    }
    await settle();
  };
  await runtime.start();
  await settle();
  return {
    clock,
    fake,
    gateway,
    buttons,
    dispenser,
    display,
    printer,
    ledger,
    runtime,
    lines,
    transitions,
    state: () => runtime.state(),
    advance,
    settle,
    pressProduct: async (slot) => {
      buttons.press({ kind: 'product', slot });
      await settle();
    },
    pressCancel: async () => {
      buttons.press({ kind: 'cancel' });
      await settle();
    },
  };
}

/** Ledger entry types of one transaction, in order. */
export function stepsOf(ledger: MemoryLedger, txId: string): string[] {
  return ledger
    .entriesOf(txId)
    .map((e) =>
      e.type === 'status.seen'
        ? `status.seen:${e.status}`
        : e.type === 'tx.closed'
          ? `tx.closed:${e.outcome}`
          : e.type,
    );
}
