// The fault soak (issue 14 item 7): several real daemons, each its own terminal at one SEQR
// simulator, sell to random customers while a share of all SOAP calls fail with every fault
// kind, "done but answer lost" included. Production timings throughout: a poll a second, the
// default deadlines, SEQR's 20 s reversal window, the 30 s payment window; only the thank-you and
// outcome screens are shortened (they hold no SEQR call). Throughput comes from machines running
// side by side, never from a faster clock. At the end the money-safety checks of the torture run
// (the simulator's own records, the relay record, the ledger), the receipts SEQR never got, and
// the customer's view: paid -> relay, time on the "cancelling" screen, out-of-service episodes.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TransactionView } from '../../daemon/core/projection.js';
import { SqliteLedger, ledgerPath } from '../../daemon/ledger/sqlite-ledger.js';
import {
  startSimulator,
  type CallRecord,
  type Fault,
  type InvoiceSnapshot,
  type Operation,
  type SeqrSimulator,
} from '../../simulator/index.js';
import { percentile } from '../lib.js';
import {
  checkRun,
  parseRelayRecord,
  type CheckResult,
  type RelayRecord,
} from '../torture/checks.js';
import { writeTerminalCredential } from '../e2e-rig.js';
import { DaemonProcess, type DaemonLine } from '../torture/daemon-process.js';
import { Random } from '../torture/random.js';

export interface SoakOptions {
  /** No purchase starts once this many have (a final cancelled one per machine follows). */
  readonly purchases: number;
  /** No purchase starts after this long either (the test's bound); default none. */
  readonly maxDurationMs?: number;
  /** Daemons selling side by side, one terminal each. */
  readonly machines: number;
  /** Share of the SOAP calls that fail (0.15); 15 % of the PAID answers are also lost on top. */
  readonly faultShare: number;
  /** Seed of the customers' and the faults' random choices; default from the clock. */
  readonly seed?: number;
  /** The repository root: `dist/daemon/main.js` must be built there. */
  readonly repoRoot: string;
  /** How long to wait at the end, faults off, for receipts still owed; default 60 s. */
  readonly receiptGraceMs?: number;
  /**
   * The QR code's windows (`timeouts.paymentWindowMs`, `stillPayingWindowMs`; default the
   * production 30 s + 30 s). Not a SEQR timing: the test shortens them to fit its time budget.
   */
  readonly paymentWindowMs?: number;
  readonly stillPayingWindowMs?: number;
  readonly progress?: (line: string) => void;
  readonly keepDirectory?: boolean;
}

type Behaviour =
  | 'pay'
  | 'payWhilePaying'
  | 'payNoDrop'
  | 'cancelButton'
  | 'payDuringCancel'
  | 'cancelInApp'
  | 'walkAway'
  | 'payLate'
  | 'fail';

/** Relative weights of what a customer does once the QR code is on the screen. */
const BEHAVIOURS: Readonly<Record<Behaviour, number>> = {
  pay: 30,
  payWhilePaying: 10,
  payNoDrop: 5,
  cancelButton: 12,
  payDuringCancel: 8,
  cancelInApp: 10,
  // Both cost the whole payment window (30 s, then 30 s "still paying?").
  walkAway: 6,
  payLate: 6,
  fail: 3,
};

/** One kind of fault the soak injects, and where. */
interface FaultKind {
  readonly label: string;
  readonly fault: Fault;
  /** Only for these operations; default every operation the daemon calls. */
  readonly ops?: readonly Operation[];
}

/** The operations the daemon calls while selling. */
const SELLING_OPS: readonly Operation[] = [
  'sendInvoice',
  'getPaymentStatus',
  'cancelInvoice',
  'submitPaymentReceipt',
  'refundPayment',
];

/** Every fault kind, in equal shares of the failing calls of each operation it applies to. */
export const FAULT_KINDS: readonly FaultKind[] = [
  { label: 'hang', fault: { kind: 'hang' } },
  // Past every default deadline: the call takes effect at SEQR, the terminal times out.
  { label: 'delay 12 s', fault: { kind: 'delay', ms: 12_000 } },
  { label: 'drip 12 s', fault: { kind: 'drip', totalMs: 12_000 } },
  { label: 'HTTP 502', fault: { kind: 'http', status: 502 } },
  { label: 'HTTP 503', fault: { kind: 'http', status: 503 } },
  { label: 'malformed', fault: { kind: 'malformed' } },
  {
    label: 'SOAP fault',
    fault: { kind: 'soapFault', faultstring: 'Fault occurred while processing.' },
  },
  { label: 'reset', fault: { kind: 'reset' } },
  { label: 'result 90', fault: { kind: 'result', resultCode: 90 } },
  { label: 'result 93', fault: { kind: 'result', resultCode: 93 } },
  { label: 'result 54', fault: { kind: 'result', resultCode: 54 }, ops: ['getPaymentStatus'] },
  { label: 'answer lost (reset)', fault: { kind: 'answerLost', answer: 'reset' } },
  { label: 'answer lost (garbled)', fault: { kind: 'answerLost', answer: 'garbled' } },
];

const OPEN_STATUS: ReadonlySet<string> = new Set([
  'ISSUED',
  'PENDING_ISSUER_ACKNOWLEDGE',
  'RESERVED',
]);
const READY_TIMEOUT_MS = 60_000;
/** A purchase not settled (idle, invoice final) this long after the customer acted is stuck. */
const SETTLE_TIMEOUT_MS = 180_000;
/** Idle this long while the invoice the customer saw is still open at SEQR: walked away from. */
const WALK_AWAY_MS = 3_000;
const EXAMPLES_PER_FINDING = 3;

export interface Episode {
  readonly machine: number;
  readonly from: number;
  readonly ms: number;
}

/** One kind of problem the soak found, with a few of its cases told in full. */
export interface Finding {
  readonly category: string;
  readonly count: number;
  readonly examples: readonly string[];
}

export interface SoakResult {
  readonly seed: number;
  readonly machines: number;
  readonly purchases: number;
  readonly behaviours: Readonly<Record<string, number>>;
  /** Purchases whose QR code never appeared (sendInvoice failed: out of service or a notice). */
  readonly noPayScreen: number;
  /** Payer actions SEQR refused (the invoice was no longer open): races lost. */
  readonly customerTooLate: number;
  readonly durationMs: number;
  readonly calls: number;
  readonly callsByOp: Readonly<Record<string, number>>;
  readonly faultedCalls: number;
  readonly faultsByKind: Readonly<Record<string, number>>;
  readonly payments: number;
  readonly reversed: number;
  /** checkRun's violations other than reversals, plus shown invoices walked away from. */
  readonly violations: number;
  readonly violationsByKind: Readonly<Record<string, number>>;
  readonly receiptsOwed: number;
  readonly stuck: number;
  readonly unexpectedExits: number;
  readonly finalExitCodes: readonly (number | null)[];
  readonly paidToRelayMs: readonly number[];
  readonly cancelling: readonly Episode[];
  readonly outOfService: readonly Episode[];
  readonly findings: readonly Finding[];
  readonly directory: string;
}

interface Machine {
  readonly index: number;
  readonly terminalId: string;
  readonly dir: string;
  readonly configPath: string;
  daemon: DaemonProcess;
  /** Journal lines about purchases: those naming an invoice or a transaction, condensed. */
  readonly journal: { time: number; line: string; ref?: string; txId?: string }[];
  readonly cancelling: Episode[];
  readonly outOfService: Episode[];
  cancellingSince?: number;
  outOfServiceSince?: number;
  /** Invoices a customer saw on this machine's screen. */
  readonly shown: string[];
  readonly walkedAway: string[];
  readonly stuck: string[];
  check?: CheckResult;
  ledger?: readonly TransactionView[];
  relay?: readonly RelayRecord[];
  ledgerSteps?: ReadonlyMap<string, readonly string[]>;
}

/** The daemon configuration of machine `index` (YAML is a superset of JSON). */
function daemonConfig(
  dir: string,
  endpoint: string,
  terminalId: string,
  index: number,
  windows: { readonly paymentWindowMs: number; readonly stillPayingWindowMs: number },
): unknown {
  const product = (slot: number, name: string, price: string, pins: number[]) => ({
    slot,
    name,
    price,
    buttonPin: pins[0],
    relayPin: pins[1],
    dropSensor: { pin: pins[2] },
  });
  return {
    mode: 'demo',
    machine: { name: `soak ${index}` },
    merchant: { name: 'Soak Kiosk', vatRate: '12' },
    products: [
      product(1, 'Cola', '25.00', [5, 17, 16]),
      product(2, 'Water', '18.50', [6, 27, 20]),
      product(3, 'Crisps', '15.00', [13, 22, 21]),
    ],
    buttons: { cancelPin: 26 },
    gpio: { backend: 'fake' },
    display: { sink: 'png', width: 320, height: 240 },
    printer: { type: 'none' },
    // No deadlines: the defaults are what is under test.
    seqr: { endpoint, terminalId },
    // Production timings, except the screens that only say thank you or what happened.
    timeouts: { ...windows, thankYouMs: 1_000, outcomeMs: 1_500 },
    stateDirectory: path.join(dir, 'state'),
    credentialsDirectory: path.join(dir, 'credentials'),
    control: { socketPath: path.join(dir, 'control.sock') },
    kiosk: { enabled: true, host: '127.0.0.1', port: 0 },
    virtual: { recordFile: path.join(dir, 'relay.jsonl') },
    log: { level: 'info' },
  };
}

function count(map: Record<string, number>, key: string, n = 1): void {
  map[key] = (map[key] ?? 0) + n;
}

const num = (value: unknown): number | undefined =>
  typeof value === 'number' && Number.isFinite(value) ? value : undefined;
const str = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

/** One soak run. Resolves with the figures and the findings; rejects only on setup failure. */
export async function runFaultSoak(options: SoakOptions): Promise<SoakResult> {
  const run = new SoakRun(options);
  try {
    return await run.execute();
  } finally {
    await run.dispose();
  }
}

class SoakRun {
  readonly #options: SoakOptions;
  readonly #seed: number;
  readonly #customers: Random;
  readonly #dir: string;
  readonly #mainJs: string;
  readonly #started = Date.now();
  #sim: SeqrSimulator | undefined;
  readonly #machines: Machine[] = [];
  #stopping = false;
  #purchases = 0;
  #noPayScreen = 0;
  #customerTooLate = 0;
  #unexpectedExits = 0;
  readonly #behaviours: Record<string, number> = {};

  constructor(options: SoakOptions) {
    this.#options = options;
    this.#seed = options.seed ?? Date.now() % 2 ** 31;
    this.#customers = new Random(this.#seed);
    this.#mainJs = path.join(options.repoRoot, 'dist', 'daemon', 'main.js');
    if (!existsSync(this.#mainJs))
      throw new Error(`${this.#mainJs} is missing: run \`npm run build\` first`);
    this.#dir = mkdtempSync(path.join(os.tmpdir(), 'seqr-faults-'));
  }

  get #windows(): { paymentWindowMs: number; stillPayingWindowMs: number } {
    return {
      paymentWindowMs: this.#options.paymentWindowMs ?? 30_000,
      stillPayingWindowMs: this.#options.stillPayingWindowMs ?? 30_000,
    };
  }

  get #simulator(): SeqrSimulator {
    if (!this.#sim) throw new Error('simulator not started');
    return this.#sim;
  }

  async execute(): Promise<SoakResult> {
    const faults = new Random(this.#seed + 1);
    this.#sim = await startSimulator({
      port: 0,
      missingAckMode: 'NO_ACKNOWLEDGMENT',
      random: () => faults.next(),
    });
    for (let index = 1; index <= this.#options.machines; index++)
      this.#machines.push(this.#machine(index));
    await Promise.all(this.#machines.map((m) => m.daemon.whenReady(READY_TIMEOUT_MS)));
    this.#injectFaults();

    const deadline =
      this.#options.maxDurationMs === undefined
        ? Number.POSITIVE_INFINITY
        : Date.now() + this.#options.maxDurationMs;
    const more = (): boolean => this.#purchases < this.#options.purchases && Date.now() < deadline;
    let reported = 0;
    await Promise.all(
      this.#machines.map(async (machine) => {
        while (more()) {
          this.#purchases += 1;
          await this.#purchase(machine, this.#pickBehaviour());
          if (this.#purchases >= reported + 25) {
            reported = this.#purchases;
            this.#options.progress?.(
              `${this.#purchases} purchases in ${((Date.now() - this.#started) / 1000).toFixed(0)} s`,
            );
          }
        }
      }),
    );

    // Faults off. One last purchase per machine, cancelled: its invoice supersedes one whose
    // sendInvoice answer was lost (SEQR keeps one open invoice per terminal).
    this.#simulator.control.clearFaults();
    await Promise.all(this.#machines.map((m) => this.#purchase(m, 'cancelButton', false)));
    await this.#waitForBackground(this.#options.receiptGraceMs ?? 60_000);

    this.#stopping = true;
    const finalExitCodes = await Promise.all(this.#machines.map((m) => m.daemon.stop(30_000)));
    return this.#verdict(finalExitCodes);
  }

  async dispose(): Promise<void> {
    this.#stopping = true;
    for (const m of this.#machines) m.daemon.kill();
    await Promise.all(this.#machines.map((m) => m.daemon.exited));
    await this.#sim?.close();
    if (!this.#options.keepDirectory) rmSync(this.#dir, { recursive: true, force: true });
  }

  /**
   * Each selling operation gets every kind that applies to it, in equal parts of `faultShare`:
   * a call draws the kinds in turn, each with its share of what the earlier ones left. The PAID
   * answer's loss is drawn first, for the answers that report PAID.
   */
  #injectFaults(): void {
    const share = this.#options.faultShare;
    const control = this.#simulator.control;
    control.injectFault('getPaymentStatus', { kind: 'answerLost', onlyPaid: true }, { share });
    for (const op of SELLING_OPS) {
      const kinds = FAULT_KINDS.filter((k) => k.ops === undefined || k.ops.includes(op));
      const each = share / kinds.length;
      kinds.forEach((kind, i) => {
        control.injectFault(op, kind.fault, { share: each / (1 - each * i) });
      });
    }
  }

  #pickBehaviour(): Behaviour {
    return this.#customers.weighted(BEHAVIOURS);
  }

  // -------------------------------------------------------------------------------------------
  // Machines
  // -------------------------------------------------------------------------------------------

  #machine(index: number): Machine {
    const sim = this.#simulator;
    const terminalId = `${index.toString(16).padStart(2, '0')}${sim.terminal.id.slice(2)}`;
    sim.control.addTerminal({ id: terminalId, password: sim.terminal.password });
    const dir = path.join(this.#dir, `machine-${index}`);
    mkdirSync(dir, { recursive: true });
    const configPath = path.join(dir, 'config.yaml');
    writeTerminalCredential(dir, sim.terminal.password);
    writeFileSync(
      configPath,
      JSON.stringify(daemonConfig(dir, sim.soapUrl, terminalId, index, this.#windows), null, 2),
    );
    const daemon = new DaemonProcess({
      mainJs: this.#mainJs,
      configPath,
      cwd: dir,
      incarnation: index,
    });
    const machine: Machine = {
      index,
      terminalId,
      dir,
      configPath,
      daemon,
      journal: [],
      cancelling: [],
      outOfService: [],
      shown: [],
      walkedAway: [],
      stuck: [],
    };
    daemon.onLine((line) => {
      this.#observe(machine, line);
    });
    void daemon.exited.then(({ code, signal }) => {
      if (this.#stopping) return;
      this.#unexpectedExits += 1;
      this.#options.progress?.(
        `machine ${index} exited by itself (${code ?? signal}):\n  ${daemon.tail.slice(-15).join('\n  ')}`,
      );
    });
    return machine;
  }

  /** The customer's and the operator's view, from the daemon's frames and journal. */
  #observe(m: Machine, line: DaemonLine): void {
    if (line.msg === '(frame)') {
      const at = num(line['at']);
      if (at === undefined) return;
      const cancelling = line['screen'] === 'cancelling';
      if (cancelling && m.cancellingSince === undefined) m.cancellingSince = at;
      if (!cancelling && m.cancellingSince !== undefined) {
        m.cancelling.push({
          machine: m.index,
          from: m.cancellingSince,
          ms: at - m.cancellingSince,
        });
        delete m.cancellingSince;
      }
      return;
    }
    const time = num(line['time']);
    if (time === undefined) return;
    if (line.msg === 'state changed') {
      if (line['to'] === 'outOfService' && m.outOfServiceSince === undefined)
        m.outOfServiceSince = time;
      if (line['from'] === 'outOfService' && m.outOfServiceSince !== undefined) {
        m.outOfService.push({
          machine: m.index,
          from: m.outOfServiceSince,
          ms: time - m.outOfServiceSince,
        });
        delete m.outOfServiceSince;
      }
    }
    const ref = str(line['invoiceReference']);
    const txId = str(line['txId']);
    if (ref === undefined && txId === undefined) return;
    const fields = Object.entries(line)
      .filter(([k]) => !['level', 'time', 'msg', 'txId', 'invoiceReference', 'product'].includes(k))
      .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
      .join(' ');
    m.journal.push({
      time,
      line: `${line.msg ?? ''} ${fields}`.trim(),
      ...(ref === undefined ? {} : { ref }),
      ...(txId === undefined ? {} : { txId }),
    });
  }

  // -------------------------------------------------------------------------------------------
  // Customers
  // -------------------------------------------------------------------------------------------

  async #purchase(m: Machine, behaviour: Behaviour, counted = true): Promise<void> {
    const r = this.#customers;
    await this.#idle(m);
    if (counted) count(this.#behaviours, behaviour);
    const daemon = m.daemon;
    // The QR code the screen shows, or the machine giving up on the invoice before it showed one.
    const shown = daemon
      .waitFor(
        (l) =>
          (l.msg === '(frame)' && typeof l['invoiceReference'] === 'string') ||
          (l.msg === 'state changed' && l['from'] === 'invoicing' && l['to'] !== 'awaitingPayment'),
        30_000,
        'pay screen',
      )
      .then(
        (l) => (l.msg === '(frame)' ? str(l['invoiceReference']) : undefined),
        () => undefined,
      );
    if (behaviour === 'payNoDrop') await this.#post(m, '/api/drop', { next: 'notDelivered' });
    await this.#post(m, '/api/press', { button: { kind: 'product', slot: r.int(1, 3) } });
    const ref = await shown;
    if (ref === undefined) {
      if (counted) this.#noPayScreen += 1;
      if (behaviour === 'payNoDrop') await this.#post(m, '/api/drop', { next: 'delivered' });
      return;
    }
    m.shown.push(ref);
    await this.#customer(m, behaviour, ref);
    await this.#settle(m, ref);
  }

  /** What the customer does once the QR code is on the screen (real time throughout). */
  async #customer(m: Machine, behaviour: Behaviour, ref: string): Promise<void> {
    const r = this.#customers;
    const sim = this.#simulator;
    const act = (what: () => void): void => {
      try {
        what();
      } catch {
        this.#customerTooLate += 1;
      }
    };
    const cancel = () => this.#post(m, '/api/press', { button: { kind: 'cancel' } });
    switch (behaviour) {
      case 'pay':
      case 'payNoDrop':
        await sleep(r.int(500, 6_000));
        act(() => {
          sim.control.pay(ref);
        });
        return;
      case 'payWhilePaying':
        await sleep(r.int(500, 3_000));
        act(() => {
          sim.control.startPaying(ref);
        });
        await sleep(r.int(500, 4_000));
        act(() => {
          sim.control.pay(ref);
        });
        return;
      case 'cancelButton':
        await sleep(r.int(500, 6_000));
        await cancel();
        return;
      case 'payDuringCancel':
        await sleep(r.int(500, 4_000));
        await cancel();
        await sleep(r.int(0, 500));
        act(() => {
          sim.control.pay(ref);
        });
        return;
      case 'cancelInApp':
        await sleep(r.int(500, 6_000));
        act(() => {
          sim.control.cancelInApp(ref);
        });
        return;
      case 'fail':
        await sleep(r.int(500, 6_000));
        act(() => {
          sim.control.fail(ref);
        });
        return;
      case 'payLate': {
        // Around the end of the payment window, while the machine gives up on the invoice.
        const { paymentWindowMs, stillPayingWindowMs } = this.#windows;
        await sleep(paymentWindowMs + stillPayingWindowMs + r.int(-3_000, 2_000));
        act(() => {
          sim.control.pay(ref);
        });
        return;
      }
      case 'walkAway':
        return;
    }
  }

  async #post(m: Machine, route: string, body: unknown): Promise<void> {
    const { daemon } = m;
    if (!daemon.alive || daemon.kioskUrl === undefined) return;
    try {
      const res = await fetch(`${daemon.kioskUrl}${route}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(5_000),
      });
      await res.arrayBuffer();
    } catch {
      // A daemon that died is counted by its exit.
    }
  }

  /** Until the machine is idle (out of service lasts until SEQR answers again). */
  async #idle(m: Machine): Promise<void> {
    const until = Date.now() + SETTLE_TIMEOUT_MS;
    while (!(m.daemon.alive && m.daemon.ready && m.daemon.state === 'idle')) {
      if (Date.now() > until || !m.daemon.alive) {
        m.stuck.push(`(machine ${m.daemon.state ?? 'down'} for ${SETTLE_TIMEOUT_MS} ms)`);
        return;
      }
      await sleep(25);
    }
  }

  /**
   * Until the machine is idle and SEQR holds `ref` final. Idle for a while with `ref` still
   * open at SEQR is a walk-away; past the bound the purchase is stuck.
   */
  async #settle(m: Machine, ref: string): Promise<void> {
    const deadline = Date.now() + SETTLE_TIMEOUT_MS;
    let idleSince: number | undefined;
    for (;;) {
      const invoice = this.#simulator.control.invoice(ref);
      const final =
        !invoice ||
        (!OPEN_STATUS.has(invoice.status) && !(invoice.status === 'PAID' && !invoice.committed));
      const idle = m.daemon.alive && m.daemon.state === 'idle';
      if (idle && final) return;
      idleSince = idle ? (idleSince ?? Date.now()) : undefined;
      if (idleSince !== undefined && Date.now() - idleSince > WALK_AWAY_MS) {
        m.walkedAway.push(ref);
        return;
      }
      if (Date.now() > deadline || !m.daemon.alive) {
        m.stuck.push(ref);
        return;
      }
      await sleep(25);
    }
  }

  /** Sales (dispensed, not refunded) whose receipt SEQR has not got. */
  #owedReceipts(): InvoiceSnapshot[] {
    const sim = this.#simulator;
    const pulsed = new Set<string>();
    for (const m of this.#machines) {
      const file = path.join(m.dir, 'relay.jsonl');
      const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
      for (const r of parseRelayRecord(text).records)
        if (r.energised && r.invoiceReference !== undefined) pulsed.add(r.invoiceReference);
    }
    return sim.control
      .invoices()
      .filter(
        (i) =>
          i.committed &&
          !i.reversed &&
          i.refunds.length === 0 &&
          pulsed.has(i.reference) &&
          i.receipts === 0,
      );
  }

  /**
   * Receipts owed and refunds waiting for their retry are work the daemons finish on their own
   * once SEQR answers again (the faults are off by now): given up to `graceMs`, as an operator
   * would give them before counting.
   */
  async #waitForBackground(graceMs: number): Promise<void> {
    const until = Date.now() + graceMs;
    while (Date.now() < until && (this.#owedReceipts().length > 0 || this.#openTransactions() > 0))
      await sleep(250);
  }

  /** Purchases the machines' ledgers still hold open (a refund in retry among them). */
  #openTransactions(): number {
    let open = 0;
    for (const m of this.#machines) {
      const ledger = SqliteLedger.open({
        path: ledgerPath(path.join(m.dir, 'state')),
        readonly: true,
      });
      try {
        open += ledger.openTransactionsSync().size;
      } finally {
        void ledger.close();
      }
    }
    return open;
  }

  // -------------------------------------------------------------------------------------------
  // The verdict
  // -------------------------------------------------------------------------------------------

  #verdict(finalExitCodes: readonly (number | null)[]): SoakResult {
    const sim = this.#simulator;
    const invoices = sim.control.invoices();
    const calls = sim.control.calls();
    for (const m of this.#machines) {
      const relayFile = path.join(m.dir, 'relay.jsonl');
      m.relay = parseRelayRecord(
        existsSync(relayFile) ? readFileSync(relayFile, 'utf8') : '',
      ).records;
      const ledger = SqliteLedger.open({
        path: ledgerPath(path.join(m.dir, 'state')),
        readonly: true,
      });
      try {
        m.ledger = ledger.transactions();
        const steps = new Map<string, string[]>();
        for (const view of m.ledger)
          steps.set(
            view.txId,
            ledger
              .entries(view.txId)
              .map(
                (e) =>
                  `${e.at} ${JSON.stringify({ ...e, txId: undefined, at: undefined, seq: undefined })}`,
              ),
          );
        m.ledgerSteps = steps;
      } finally {
        void ledger.close();
      }
      m.check = checkRun({
        invoices: invoices.filter((i) => i.terminalId === m.terminalId),
        relay: m.relay,
        ledger: m.ledger,
      });
    }

    const violationsByKind: Record<string, number> = {};
    let reversed = 0;
    let payments = 0;
    for (const m of this.#machines) {
      const check = m.check;
      if (!check) continue;
      payments += check.counts.paid;
      reversed += check.counts.reversed;
      for (const v of check.violations)
        if (v.kind !== 'paymentReversed') count(violationsByKind, v.kind);
      if (m.walkedAway.length > 0) count(violationsByKind, 'walkedAway', m.walkedAway.length);
    }

    const paidToRelayMs: number[] = [];
    for (const m of this.#machines)
      for (const edge of m.relay ?? []) {
        if (!edge.energised || edge.invoiceReference === undefined) continue;
        const paidAt = sim.control.invoice(edge.invoiceReference)?.paidAt;
        if (paidAt !== undefined) paidToRelayMs.push(edge.at - paidAt);
      }

    const faultsByKind: Record<string, number> = {};
    const callsByOp: Record<string, number> = {};
    for (const c of calls) {
      count(callsByOp, c.op);
      if (c.fault !== undefined) count(faultsByKind, faultLabel(c));
    }
    const owed = this.#owedReceipts();
    return {
      seed: this.#seed,
      machines: this.#machines.length,
      purchases: this.#purchases,
      behaviours: { ...this.#behaviours },
      noPayScreen: this.#noPayScreen,
      customerTooLate: this.#customerTooLate,
      durationMs: Date.now() - this.#started,
      calls: calls.length,
      callsByOp,
      faultedCalls: calls.filter((c) => c.fault !== undefined).length,
      faultsByKind,
      payments,
      reversed,
      violations: Object.values(violationsByKind).reduce((a, b) => a + b, 0),
      violationsByKind,
      receiptsOwed: owed.length,
      stuck: this.#machines.reduce((n, m) => n + m.stuck.length, 0),
      unexpectedExits: this.#unexpectedExits,
      finalExitCodes,
      paidToRelayMs,
      cancelling: this.#machines.flatMap((m) => m.cancelling),
      outOfService: this.#machines.flatMap((m) => m.outOfService),
      findings: this.#findings(owed, calls),
      directory: this.#dir,
    };
  }

  /** Every problem by category, with the first few cases told from every record there is. */
  #findings(owed: readonly InvoiceSnapshot[], calls: readonly CallRecord[]): Finding[] {
    const byCategory = new Map<string, { machine: Machine; ref: string; detail: string }[]>();
    const add = (kind: string, machine: Machine, ref: string, detail: string): void => {
      const cause = this.#cause(kind, machine, ref, calls);
      const category = cause === undefined ? kind : `${kind}, ${cause}`;
      const list = byCategory.get(category) ?? [];
      list.push({ machine, ref, detail });
      byCategory.set(category, list);
    };
    for (const m of this.#machines) {
      for (const v of m.check?.violations ?? [])
        add(v.kind, m, v.invoiceReference ?? '-', v.detail);
      for (const ref of m.walkedAway)
        add(
          'walkedAway',
          m,
          ref,
          'machine idle while the invoice the customer saw was open at SEQR',
        );
      for (const ref of m.stuck) add('stuck', m, ref, `not settled within ${SETTLE_TIMEOUT_MS} ms`);
      for (const i of owed)
        if (i.terminalId === m.terminalId)
          add('receiptOwed', m, i.reference, 'sold, but SEQR never got the receipt');
    }
    const findings: Finding[] = [];
    for (const [category, cases] of byCategory)
      findings.push({
        category,
        count: cases.length,
        examples: cases
          .slice(0, EXAMPLES_PER_FINDING)
          .map((c) => this.#story(c.machine, c.ref, c.detail, calls)),
      });
    return findings.sort((a, b) => b.count - a.count);
  }

  /**
   * What set a case off, to group cases of one kind: for a receipt owed, what its
   * submitPaymentReceipt calls met; for an invoice let go of, the last call about it before the
   * machine closed the purchase.
   */
  #cause(kind: string, m: Machine, ref: string, calls: readonly CallRecord[]): string | undefined {
    const invoice = this.#simulator.control.invoice(ref);
    if (!invoice) return undefined;
    if (kind === 'receiptOwed') {
      const sent = calls.filter(
        (c) => c.op === 'submitPaymentReceipt' && c.reference === invoice.ersReference,
      );
      return sent.length === 0
        ? 'never sent'
        : `sent ${sent.length}x: ${sent.map(callLabel).join(' ')}`;
    }
    const closedAt = m.ledger?.find((v) => v.invoiceReference === ref)?.closedAt;
    const before = calls.filter(
      (c) => c.reference === ref && (closedAt === undefined || c.at <= closedAt),
    );
    const last = before.at(-1);
    return last === undefined ? undefined : `after ${callLabel(last)}`;
  }

  /** One invoice's story: SEQR's history and calls, the daemon's journal, relay and ledger. */
  #story(m: Machine, ref: string, detail: string, calls: readonly CallRecord[]): string {
    const invoice = this.#simulator.control.invoice(ref);
    const view = m.ledger?.find((v) => v.invoiceReference === ref);
    const t0 = invoice?.history[0]?.at ?? 0;
    const t = (at: number): string => `${at - t0 >= 0 ? '+' : ''}${at - t0}`;
    const ersReference = invoice?.ersReference;
    const refs = new Set([ref, ...(ersReference === undefined ? [] : [ersReference])]);
    const lines = [
      `machine ${m.index} invoice ${ref}${view ? ` tx ${view.txId}` : ''}: ${detail}`,
      `  SEQR: ${(invoice?.history ?? []).map((h) => `${h.status}@${t(h.at)}`).join(' ')}${invoice?.reversed ? ' (reversed)' : ''}; receipts ${invoice?.receipts ?? 0}, refunds ${invoice?.refunds.length ?? 0}`,
      `  calls: ${calls
        .filter((c) => c.reference !== undefined && refs.has(c.reference))
        .map((c) => `${callLabel(c)}@${t(c.at)}`)
        .join(' ')}`,
      `  relay: ${(m.relay ?? [])
        .filter((e) => e.invoiceReference === ref)
        .map((e) => `${e.energised ? 'on' : 'off'}@${t(e.at)}`)
        .join(' ')}`,
      ...m.journal
        .filter((j) => j.ref === ref || (view !== undefined && j.txId === view.txId))
        .map((j) => `  journal ${t(j.time)} ${j.line}`),
      ...(view === undefined ? [] : (m.ledgerSteps?.get(view.txId) ?? [])).map(
        (s) => `  ledger ${s}`,
      ),
    ];
    return lines.join('\n');
  }
}

/** `getPaymentStatus[result 54]=54`: the operation, its fault, the resultCode SEQR had. */
function callLabel(c: CallRecord): string {
  return `${c.op}${c.fault === undefined ? '' : `[${faultLabel(c)}]`}${c.resultCode === undefined ? '' : `=${c.resultCode}`}`;
}

/** A faulted call's kind as the soak names it. */
function faultLabel(c: CallRecord): string {
  return c.fault === 'result' ? `result ${c.resultCode ?? '?'}` : (c.fault ?? 'none');
}

/** The result as printable lines: figures, then findings with their examples. */
export function describeSoak(r: SoakResult): string[] {
  const sorted = (m: Readonly<Record<string, number>>): string =>
    Object.entries(m)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
  const ms = (samples: readonly number[], p: number): string =>
    samples.length === 0 ? '-' : `${percentile(samples, p).toFixed(0)} ms`;
  const episodes = (list: readonly Episode[]): number[] => list.map((e) => e.ms);
  return [
    `seed ${r.seed}: ${r.purchases} purchases on ${r.machines} machines in ${(r.durationMs / 1000).toFixed(0)} s; no pay screen ${r.noPayScreen}; payer too late ${r.customerTooLate}`,
    `behaviours: ${sorted(r.behaviours)}`,
    `SOAP calls ${r.calls} (${sorted(r.callsByOp)}), faulted ${r.faultedCalls} (${((100 * r.faultedCalls) / Math.max(1, r.calls)).toFixed(1)} %): ${sorted(r.faultsByKind)}`,
    `payments ${r.payments}, reversed by SEQR ${r.reversed} (goal 0)`,
    `invariant violations ${r.violations} (goal 0): ${sorted(r.violationsByKind)}`,
    `receipts still owed ${r.receiptsOwed} (goal 0); stuck ${r.stuck}; unexpected exits ${r.unexpectedExits}; final exit codes ${r.finalExitCodes.join(',')}`,
    `paid -> relay: p50 ${ms(r.paidToRelayMs, 50)}, p99 ${ms(r.paidToRelayMs, 99)}, max ${ms(r.paidToRelayMs, 100)} (${r.paidToRelayMs.length} dispenses)`,
    `"cancelling" shown: ${r.cancelling.length} times, p50 ${ms(episodes(r.cancelling), 50)}, p99 ${ms(episodes(r.cancelling), 99)}, max ${ms(episodes(r.cancelling), 100)}`,
    `out of service: ${r.outOfService.length} episodes, p50 ${ms(episodes(r.outOfService), 50)}, max ${ms(episodes(r.outOfService), 100)}, total ${(episodes(r.outOfService).reduce((a, b) => a + b, 0) / 1000).toFixed(0)} s`,
    ...r.findings.flatMap((f) => [
      `FINDING ${f.category}: ${f.count}`,
      ...f.examples.map((e) => `  ${e.replace(/\n/g, '\n  ')}`),
    ]),
  ];
}
