// The vending runtime's timing, on the real clock: the status poll period while an invoice is open
// (against the in-process SEQR simulator over loopback, through the real SOAP gateway) with normal,
// 800 ms and hanging answers; and the time from a button event to the screen.
import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import { DEFAULT_TIMINGS, type CoreConfig } from '../daemon/core/config.js';
import { MemoryLedger } from '../daemon/ledger/memory-ledger.js';
import { systemClock } from '../daemon/ports/clock.js';
import type { Screen } from '../daemon/ports/display.js';
import { createRuntime, type Runtime } from '../daemon/runtime/runtime.js';
import { SeqrClient } from '../daemon/seqr/client.js';
import { FakePaymentGateway } from '../daemon/seqr/fake-gateway.js';
import { SeqrPaymentGateway } from '../daemon/seqr/gateway.js';
import type { PaymentGateway } from '../daemon/ports/payment-gateway.js';
import { FakeButtons } from '../hardware/buttons/fake-buttons.js';
import { FakeDispenser } from '../hardware/dispenser/fake-dispenser.js';
import { FakeDisplay } from '../hardware/display/fake-display.js';
import { FakePrinter } from '../hardware/printer/fake-printer.js';
import { startSimulator, type Fault } from '../simulator/index.js';
import { latencyFigures, type Bench, type BenchResult, type Figure } from './lib.js';

const POLLS = 120;

const config: CoreConfig = {
  ...DEFAULT_TIMINGS,
  // Long windows: the invoice stays open for the whole measurement.
  paymentWindowMs: 600_000,
  stillPayingWindowMs: 600_000,
  machineName: 'bench',
  merchant: { name: 'Bench', terminalId: 'bench-terminal' },
  products: [{ slot: 1, buttonLabel: '1', name: 'Cola', price: { minor: 2500, currency: 'SEK' } }],
};

const silent = pino({ level: 'silent' });

function wire(gateway: PaymentGateway): {
  runtime: Runtime;
  buttons: FakeButtons;
  display: FakeDisplay;
} {
  const clock = systemClock;
  const buttons = new FakeButtons({ clock, slots: [1] });
  const display = new FakeDisplay();
  const runtime = createRuntime({
    gateway,
    buttons,
    dispenser: new FakeDispenser({ clock, slots: [1] }),
    display,
    printer: new FakePrinter({ clock }),
    ledger: new MemoryLedger(),
    clock,
    log: silent,
    config,
  });
  return { runtime, buttons, display };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** 120 polls of one open invoice; `fault` applies to every status call. */
async function pollPeriod(
  label: string,
  fault: Fault | undefined,
  deadlineMs: number,
): Promise<BenchResult> {
  const sim = await startSimulator({ missingAckMode: 'NO_ACKNOWLEDGMENT' });
  const client = await SeqrClient.create({
    endpoint: sim.soapUrl,
    terminal: sim.terminal,
    deadlineMs,
  });
  const { runtime, buttons } = wire(new SeqrPaymentGateway(client));
  try {
    await runtime.start();
    if (fault) sim.control.injectFault('getPaymentStatus', fault);
    buttons.press({ kind: 'product', slot: 1 });
    while (sim.control.calls().filter((c) => c.op === 'getPaymentStatus').length < POLLS + 1)
      await sleep(50);
    await runtime.stop();
    const calls = sim.control
      .calls()
      .filter((c) => c.op === 'getPaymentStatus')
      .slice(0, POLLS + 1);
    const gaps = calls.slice(1).map((c, i) => c.at - (calls[i]?.at ?? c.at));
    const expected =
      fault?.kind === 'hang'
        ? deadlineMs
        : fault?.kind === 'delay'
          ? Math.max(1000, fault.ms)
          : 1000;
    const mean = gaps.reduce((a, b) => a + b, 0) / gaps.length;
    const overlaps = calls.slice(1).filter((c, i) => c.at < (calls[i]?.endedAt ?? Infinity)).length;
    const figures: Figure[] = [
      { name: 'mean period', value: mean, unit: 'ms' },
      {
        name: 'max deviation from expected',
        value: Math.max(...gaps.map((g) => Math.abs(g - expected))),
        unit: 'ms',
      },
      { name: 'max gap', value: Math.max(...gaps), unit: 'ms' },
      { name: 'overlapping calls', value: overlaps, unit: 'count' },
      {
        name: 'max calls in flight',
        value: sim.control.maxConcurrentCalls('getPaymentStatus'),
        unit: 'count',
      },
    ];
    return {
      title: `poll period, ${label}`,
      figures,
      note: `${POLLS} intervals; expected period ${expected} ms (a late answer starts the next call at once)`,
    };
  } finally {
    await runtime.stop().catch(() => undefined);
    client.close();
    await sim.close();
  }
}

/** Button press -> first screen (preparing), and -> pay screen (ledger + sendInvoice on the fake). */
async function buttonToScreen(): Promise<BenchResult> {
  const gateway = new FakePaymentGateway({ clock: systemClock });
  const { runtime, buttons, display } = wire(gateway);
  await runtime.start();
  const toFirst: number[] = [];
  const toPay: number[] = [];
  const shown = (kind: Screen['kind']): Promise<number> =>
    new Promise((resolve) => {
      const off = display.onShow((s) => {
        if (s.kind === kind) {
          off();
          resolve(performance.now());
        }
      });
    });
  for (let i = 0; i < 300; i++) {
    const preparing = shown('preparing');
    const pay = shown('pay');
    const cancelled = shown('cancelled');
    const t0 = performance.now();
    buttons.press({ kind: 'product', slot: 1 });
    toFirst.push((await preparing) - t0);
    toPay.push((await pay) - t0);
    buttons.press({ kind: 'cancel' });
    await cancelled;
  }
  await runtime.stop();
  return {
    title: 'button to display',
    figures: [
      ...latencyFigures('press -> preparing screen', toFirst),
      ...latencyFigures('press -> pay screen', toPay),
    ],
    note: '300 presses; fake hardware, in-memory ledger and fake gateway, real clock',
  };
}

const bench: Bench = async () => {
  const latency = await buttonToScreen();
  const periods = await Promise.all([
    pollPeriod('normal answers', undefined, 5000),
    pollPeriod('800 ms answers', { kind: 'delay', ms: 800 }, 5000),
    pollPeriod('hanging answers (1.5 s client deadline)', { kind: 'hang' }, 1500),
  ]);
  return [latency, ...periods];
};

export default bench;
