// The crash-torture run (issue 6 item 6): the real daemon as a child process, the SEQR simulator
// and a kill-point relay in this process, customers with random behaviour on the kiosk API and
// the simulator's payer controls, SIGKILL at random moments and at chosen SOAP calls, restarts
// with recovery, and at the end the money-safety checks against the simulator's own records, the
// relay record file and the ledger.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SqliteLedger, ledgerPath } from '../../daemon/ledger/sqlite-ledger.js';
import type { TransactionView } from '../../daemon/core/projection.js';
import { TERMINAL_PASSWORD_CREDENTIAL, writeCredential } from '../../config/credentials.js';
import { startSimulator, type Operation, type SeqrSimulator } from '../../simulator/index.js';
import { checkRun, parseRelayRecord, type CheckResult } from './checks.js';
import { DaemonExited, DaemonProcess, type DaemonLine } from './daemon-process.js';
import { percentile } from '../lib.js';
import { Random } from './random.js';
import {
  startSoapProxy,
  type ProxiedCall,
  type ProxyDecision,
  type SoapProxy,
} from './soap-proxy.js';

export interface TortureOptions {
  /** The run goes on with new purchases until this many kills were made. */
  readonly kills: number;
  /** Seed of every random choice; default from the clock (printed in the result). */
  readonly seed?: number;
  /** The repository root: `dist/daemon/main.js` must be built there. */
  readonly repoRoot: string;
  /**
   * Share of purchases where the customer pays and the machine stays down longer than
   * `recovery.maxCustomerAgeMs` (recovery then refunds). Each costs ~11 s. Default 0.01.
   */
  readonly outageShare?: number;
  /** Progress lines (one per few purchases); default none. */
  readonly progress?: (line: string) => void;
  /** Keep the temp directory (config, ledger, relay record) for inspection. */
  readonly keepDirectory?: boolean;
}

export interface TortureResult {
  readonly seed: number;
  readonly purchases: number;
  readonly kills: number;
  readonly restarts: number;
  /** Kills by where they landed, e.g. `soap:cancelInvoice:answerLost`, `state:dispensing`. */
  readonly killsByPoint: Readonly<Record<string, number>>;
  readonly behaviours: Readonly<Record<string, number>>;
  /** SOAP calls seen by the relay, by operation. */
  readonly calls: Readonly<Record<string, number>>;
  /** Error-level log lines of the daemons, by `code`. */
  readonly errorCodes: Readonly<Record<string, number>>;
  /** Payer actions SEQR refused (the invoice was already cancelled / paid): races lost. */
  readonly customerTooLate: number;
  /** The daemon ended without being killed or stopped (crash). */
  readonly unexpectedExits: number;
  /**
   * Invoices whose QR code a customer saw that were still open at SEQR (ISSUED, or PAID and never
   * polled) while the daemon stood idle, READY, recovery done: walked away from (invariant 4).
   */
  readonly walkedAway: readonly string[];
  /** Purchases after which the machine did not settle (idle, invoice final) within the bound. */
  readonly stuck: number;
  /** Simulator invoices no ledger transaction names (sendInvoice answer lost). */
  readonly invoicesUnknownToLedger: number;
  readonly tornRelayLines: number;
  /** Exit code of the final orderly stop (SIGTERM): 0 expected. */
  readonly finalExitCode: number | null;
  readonly check: CheckResult;
  readonly durationMs: number;
  readonly directory: string;
  /** Diagnostics of stuck purchases and unexpected exits (daemon output tails). */
  readonly incidents: readonly string[];
  /** For the first violations: SEQR's status history, relay edges and ledger steps. */
  readonly evidence: readonly string[];
  /** From each kill to the next daemon's READY (recovery included), ms; outages left out. */
  readonly restartMs: readonly number[];
}

type Behaviour =
  | 'pay'
  | 'payWhilePaying'
  | 'payNoDrop'
  | 'cancelButton'
  | 'cancelInApp'
  | 'fail'
  | 'payLate'
  | 'neverPay'
  | 'payThenOutage';

type Phase = 'beforeSend' | 'answerLost' | 'afterAnswer';

/** Where the next kill of this purchase lands. */
type KillPlan =
  | { readonly kind: 'none' }
  | { readonly kind: 'delay'; readonly ms: number }
  | {
      readonly kind: 'soap';
      readonly op: Operation;
      /** Only the answer that reports PAID (getPaymentStatus). */
      readonly paid: boolean;
      readonly nth: number;
      readonly phase: Phase;
      readonly delayMs: number;
    }
  | { readonly kind: 'state'; readonly to: string; readonly delayMs: number };

interface Armed {
  readonly plan: KillPlan;
  readonly label: string;
  readonly incarnation: number;
  seen: number;
  fired: boolean;
  timer?: NodeJS.Timeout;
  offLine?: () => void;
}

const OPEN_STATUS: ReadonlySet<string> = new Set([
  'ISSUED',
  'PENDING_ISSUER_ACKNOWLEDGE',
  'RESERVED',
]);
const PAYING: readonly Behaviour[] = ['pay', 'payWhilePaying', 'payNoDrop', 'payLate'];
const CANCELLING: readonly Behaviour[] = [
  'cancelButton',
  'payLate',
  'cancelButton',
  'payLate',
  'neverPay',
];
const PAID_ANSWER = /<(?:[\w.-]+:)?status>PAID</;

const MAX_CUSTOMER_AGE_MS = 10_000;
const READY_TIMEOUT_MS = 90_000;
const SETTLE_TIMEOUT_MS = 120_000;
/** Idle this long with the shown invoice still open at SEQR: the machine walked away from it. */
const WALK_AWAY_MS = 3_000;

/** The daemon configuration for a run (YAML is a superset of JSON). */
function daemonConfig(dir: string, endpoint: string, terminalId: string): unknown {
  const product = (slot: number, name: string, price: string, pins: number[]) => ({
    slot,
    name,
    price,
    buttonPin: pins[0],
    relayPin: pins[1],
    pulseMs: 150,
    dropSensor: { pin: pins[2], windowMs: 400 },
  });
  return {
    mode: 'demo',
    machine: { name: 'torture' },
    merchant: { name: 'Torture Kiosk', vatRate: '12' },
    products: [
      product(1, 'Cola', '25.00', [5, 17, 16]),
      product(2, 'Water', '18.50', [6, 27, 20]),
      product(3, 'Crisps', '15.00', [13, 22, 21]),
    ],
    buttons: { cancelPin: 26 },
    gpio: { backend: 'fake' },
    display: { sink: 'png', pngPath: path.join(dir, 'screen.png'), width: 320, height: 240 },
    printer: { type: 'none' },
    seqr: { endpoint, terminalId, deadlineMs: 3_000 },
    timeouts: {
      paymentWindowMs: 5_000,
      stillPayingWindowMs: 2_000,
      pollIntervalMs: 250,
      thankYouMs: 500,
      outcomeMs: 500,
      outOfServiceRetryMs: 1_000,
      dispenseTimeoutMs: 2_000,
    },
    recovery: { maxCustomerAgeMs: MAX_CUSTOMER_AGE_MS },
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

function labelOf(plan: KillPlan, recovery: boolean): string {
  const prefix = recovery ? 'recovery:' : '';
  switch (plan.kind) {
    case 'none':
      return 'none';
    case 'delay':
      return `${prefix}delay`;
    case 'soap':
      return `${prefix}soap:${plan.op}${plan.paid ? '(PAID)' : ''}:${plan.phase}`;
    case 'state':
      return `${prefix}state:${plan.to}`;
  }
}

/** One crash-torture run. Resolves with the figures and the verdict; rejects only on setup failure. */
export async function runTorture(options: TortureOptions): Promise<TortureResult> {
  const run = new TortureRun(options);
  try {
    return await run.execute();
  } finally {
    await run.dispose();
  }
}

class TortureRun {
  readonly #options: TortureOptions;
  readonly #random: Random;
  readonly #dir: string;
  readonly #configPath: string;
  readonly #mainJs: string;
  readonly #started = Date.now();
  #simulator: SeqrSimulator | undefined;
  #proxy: SoapProxy | undefined;
  #daemon: DaemonProcess | undefined;
  #incarnations = 0;
  #restarting: Promise<void> | undefined;
  #armed: Armed | undefined;
  #outagePending = false;
  #recoveryChain = 0;
  #stopping = false;

  #purchases = 0;
  #kills = 0;
  #restarts = 0;
  #customerTooLate = 0;
  #unexpectedExits = 0;
  #stuck = 0;
  readonly #killsByPoint: Record<string, number> = {};
  readonly #behaviours: Record<string, number> = {};
  readonly #calls: Record<string, number> = {};
  readonly #errorCodes: Record<string, number> = {};
  readonly #incidents: string[] = [];
  readonly #restartMs: number[] = [];
  readonly #walkedAway: string[] = [];
  readonly #killLog: { at: number; point: string; incarnation: number }[] = [];

  constructor(options: TortureOptions) {
    this.#options = options;
    this.#random = new Random(options.seed ?? Date.now() % 2 ** 31);
    this.#mainJs = path.join(options.repoRoot, 'dist', 'daemon', 'main.js');
    if (!existsSync(this.#mainJs))
      throw new Error(`${this.#mainJs} is missing: run \`npm run build\` first`);
    this.#dir = mkdtempSync(path.join(os.tmpdir(), 'seqr-torture-'));
    this.#configPath = path.join(this.#dir, 'config.yaml');
  }

  get #current(): DaemonProcess {
    if (!this.#daemon) throw new Error('daemon not started');
    return this.#daemon;
  }

  async execute(): Promise<TortureResult> {
    const simulator = await startSimulator({ port: 0 });
    this.#simulator = simulator;
    this.#proxy = await startSoapProxy(simulator.soapUrl, {
      onRequest: (call) => this.#onRequest(call),
      onAnswer: (call, answer) => this.#onAnswer(call, answer),
    });
    writeFileSync(
      this.#configPath,
      JSON.stringify(daemonConfig(this.#dir, this.#proxy.url, simulator.terminal.id), null, 2),
    );
    await writeCredential(
      path.join(this.#dir, 'credentials'),
      TERMINAL_PASSWORD_CREDENTIAL,
      simulator.terminal.password,
    );
    this.#spawn();
    await this.#current.whenReady(READY_TIMEOUT_MS);

    while (this.#kills < this.#options.kills) {
      await this.#purchase(false);
      if (this.#purchases % 10 === 0)
        this.#options.progress?.(
          `purchases ${this.#purchases}, kills ${this.#kills}, restarts ${this.#restarts}`,
        );
    }
    // A last purchase without a kill: its sendInvoice supersedes an invoice whose answer a kill
    // lost (the ledger never learnt its reference, SEQR cancels it with the next one).
    await this.#purchase(true);

    this.#stopping = true;
    const finalExitCode = await this.#current.stop(30_000);
    return this.#verdict(finalExitCode);
  }

  async dispose(): Promise<void> {
    this.#stopping = true;
    this.#disarm();
    this.#daemon?.kill();
    if (this.#daemon) await this.#daemon.exited;
    await this.#proxy?.close();
    await this.#simulator?.close();
    if (!this.#options.keepDirectory) rmSync(this.#dir, { recursive: true, force: true });
  }

  // -------------------------------------------------------------------------------------------
  // The daemon's life: spawn, kill, restart
  // -------------------------------------------------------------------------------------------

  #spawn(): DaemonProcess {
    this.#incarnations += 1;
    const daemon = new DaemonProcess({
      mainJs: this.#mainJs,
      configPath: this.#configPath,
      cwd: this.#dir,
      incarnation: this.#incarnations,
    });
    this.#daemon = daemon;
    daemon.onLine((line) => {
      this.#watchLine(daemon, line);
    });
    void daemon.exited.then(({ code, signal }) => {
      if (daemon.killed || this.#stopping) return;
      this.#unexpectedExits += 1;
      this.#incident(`daemon #${daemon.incarnation} exited by itself (${code ?? signal})`, daemon);
      if (this.#daemon === daemon) this.#restarting = this.#restart(daemon, false);
    });
    return daemon;
  }

  #watchLine(daemon: DaemonProcess, line: DaemonLine): void {
    const level = line['level'];
    if (typeof level === 'number' && level >= 50) {
      const code = line['code'];
      count(this.#errorCodes, typeof code === 'string' ? code : `(no code) ${line.msg ?? ''}`);
    }
    const armed = this.#armed;
    if (
      armed?.plan.kind === 'state' &&
      !armed.fired &&
      armed.incarnation === daemon.incarnation &&
      line.msg === 'state changed' &&
      line['to'] === armed.plan.to
    ) {
      armed.fired = true;
      const { delayMs } = armed.plan;
      armed.timer = setTimeout(() => {
        this.#kill(armed.label, daemon);
      }, delayMs);
    }
  }

  /** SIGKILLs `target` if it is still the current daemon, and starts the restart. */
  #kill(point: string, target: DaemonProcess): boolean {
    if (this.#stopping || target !== this.#daemon || !target.alive || target.killed) return false;
    target.kill();
    this.#killLog.push({ at: Date.now(), point, incarnation: target.incarnation });
    this.#kills += 1;
    count(this.#killsByPoint, point);
    const outage = this.#outagePending;
    this.#outagePending = false;
    this.#restarting = this.#restart(target, outage);
    return true;
  }

  async #restart(old: DaemonProcess, outage: boolean): Promise<void> {
    const killedAt = Date.now();
    await old.exited;
    if (outage) await sleep(MAX_CUSTOMER_AGE_MS + 500);
    if (this.#stopping) return;
    const daemon = this.#spawn();
    this.#restarts += 1;
    this.#armRecoveryKill(daemon);
    try {
      await daemon.whenReady(READY_TIMEOUT_MS);
    } catch (err) {
      if (err instanceof DaemonExited) return; // killed in recovery: the next restart took over
      this.#incident(`daemon #${daemon.incarnation} not ready: ${String(err)}`, daemon);
      this.#stuck += 1;
      this.#kill('stuck', daemon);
      return;
    }
    if (this.#armed?.incarnation === daemon.incarnation) this.#disarm();
    this.#recoveryChain = 0;
    if (!outage) this.#restartMs.push(Date.now() - killedAt);
  }

  /** Some restarts are killed again while recovering (at most three in a row). */
  #armRecoveryKill(daemon: DaemonProcess): void {
    this.#disarm();
    const r = this.#random;
    if (this.#recoveryChain >= 3 || !r.chance(0.45)) return;
    this.#recoveryChain += 1;
    const plan: KillPlan = r.chance(0.4)
      ? { kind: 'delay', ms: r.int(0, 1_500) }
      : {
          kind: 'soap',
          op: r.pick<Operation>([
            'getPaymentStatus',
            'getPaymentStatus',
            'cancelInvoice',
            'refundPayment',
          ]),
          paid: false,
          nth: 1,
          phase: r.pick<Phase>(['beforeSend', 'answerLost', 'afterAnswer']),
          delayMs: r.int(0, 30),
        };
    this.#arm(plan, true, daemon);
  }

  /** Waits for any restart in progress (and the ones it triggers) to reach READY. */
  async #settledRestart(): Promise<void> {
    while (this.#restarting) {
      const current = this.#restarting;
      await current;
      if (this.#restarting === current) this.#restarting = undefined;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Kill plans
  // -------------------------------------------------------------------------------------------

  #arm(plan: KillPlan, recovery: boolean, daemon: DaemonProcess): void {
    this.#disarm();
    if (plan.kind === 'none') return;
    const armed: Armed = {
      plan,
      label: labelOf(plan, recovery),
      incarnation: daemon.incarnation,
      seen: 0,
      fired: false,
    };
    this.#armed = armed;
    if (plan.kind === 'delay')
      armed.timer = setTimeout(() => {
        armed.fired = true;
        this.#kill(armed.label, daemon);
      }, plan.ms);
  }

  #disarm(): void {
    const armed = this.#armed;
    if (!armed) return;
    if (armed.timer) clearTimeout(armed.timer);
    armed.offLine?.();
    this.#armed = undefined;
  }

  /** The armed SOAP plan, when it applies to this call of the current daemon. */
  #soapPlan(
    call: ProxiedCall,
  ): (Armed & { plan: Extract<KillPlan, { kind: 'soap' }> }) | undefined {
    const armed = this.#armed;
    if (armed?.plan.kind !== 'soap' || armed.fired || armed.plan.op !== call.op) return undefined;
    if (armed.incarnation !== this.#daemon?.incarnation) return undefined;
    return armed as Armed & { plan: Extract<KillPlan, { kind: 'soap' }> };
  }

  readonly #chosen = new WeakSet<ProxiedCall>();

  #onRequest(call: ProxiedCall): (() => void) | undefined {
    count(this.#calls, call.op);
    const armed = this.#soapPlan(call);
    if (!armed) return undefined;
    if (armed.plan.paid) {
      this.#chosen.add(call);
      return undefined;
    }
    armed.seen += 1;
    if (armed.seen !== armed.plan.nth) return undefined;
    const daemon = this.#current;
    if (armed.plan.phase === 'beforeSend') {
      armed.fired = true;
      return () => {
        this.#kill(armed.label, daemon);
      };
    }
    this.#chosen.add(call);
    return undefined;
  }

  #onAnswer(call: ProxiedCall, answer: string): ProxyDecision {
    const armed = this.#soapPlan(call);
    if (!armed || !this.#chosen.has(call)) return { action: 'pass' };
    if (armed.plan.paid && !PAID_ANSWER.test(answer)) return { action: 'pass' };
    armed.fired = true;
    const daemon = this.#current;
    const kill = (): void => {
      this.#kill(armed.label, daemon);
    };
    if (armed.plan.phase === 'afterAnswer')
      return { action: 'afterAnswer', delayMs: armed.plan.delayMs, kill };
    return { action: 'answerLost', kill };
  }

  /** A kill plan for one purchase and a behaviour that can reach it. */
  #choose(): { plan: KillPlan; behaviour: Behaviour } {
    const r = this.#random;
    const phase = (): Phase => r.pick<Phase>(['beforeSend', 'answerLost', 'afterAnswer']);
    const soap = (op: Operation, behaviours: readonly Behaviour[], paid = false, nth = 1) => ({
      plan: {
        kind: 'soap',
        op,
        paid,
        nth,
        // A PAID answer exists only once SEQR has acted: it can be lost or delivered.
        phase: paid ? r.pick<Phase>(['answerLost', 'afterAnswer']) : phase(),
        delayMs: r.int(0, 30),
      } as const,
      behaviour: r.pick(behaviours),
    });
    const kind = r.weighted({ none: 6, delay: 18, soap: 52, state: 24 });
    const anyBehaviour = (): Behaviour =>
      r.chance(this.#options.outageShare ?? 0.01)
        ? 'payThenOutage'
        : r.weighted<Exclude<Behaviour, 'payThenOutage'>>({
            pay: 3,
            payWhilePaying: 2,
            payNoDrop: 2,
            cancelButton: 2,
            cancelInApp: 1,
            fail: 1,
            payLate: 2,
            // Costs the whole payment window (5 s).
            neverPay: 0.5,
          });
    switch (kind) {
      case 'none':
        return { plan: { kind: 'none' }, behaviour: anyBehaviour() };
      case 'delay':
        return { plan: { kind: 'delay', ms: r.int(0, 2_500) }, behaviour: anyBehaviour() };
      case 'soap':
        switch (r.weighted({ send: 8, poll: 8, paid: 12, cancel: 10, receipt: 5, refund: 7 })) {
          case 'send':
            return { ...soap('sendInvoice', PAYING), behaviour: anyBehaviour() };
          case 'poll':
            return {
              ...soap('getPaymentStatus', PAYING, false, r.int(1, 3)),
              behaviour: anyBehaviour(),
            };
          case 'paid':
            return soap('getPaymentStatus', PAYING, true);
          case 'cancel':
            return soap('cancelInvoice', CANCELLING);
          case 'receipt':
            return soap('submitPaymentReceipt', ['pay', 'payWhilePaying']);
          case 'refund':
            return soap('refundPayment', ['payNoDrop']);
        }
        break;
      case 'state': {
        // Kills armed for cancelling land far less often than the other states' (0-2 of about 7
        // in a 200-kill run, cause not pinned down): armed three times as often to be covered.
        const to = r.pick([
          'invoicing',
          'awaitingPayment',
          'cancelling',
          'cancelling',
          'cancelling',
          'dispensing',
          'dispensing',
          'refunding',
          'finishing',
          'notice',
        ]);
        const behaviour: Behaviour =
          to === 'cancelling'
            ? r.pick(CANCELLING)
            : to === 'refunding'
              ? 'payNoDrop'
              : to === 'dispensing' || to === 'finishing'
                ? r.pick(PAYING)
                : anyBehaviour();
        return { plan: { kind: 'state', to, delayMs: r.int(0, 250) }, behaviour };
      }
    }
    return { plan: { kind: 'none' }, behaviour: 'pay' };
  }

  // -------------------------------------------------------------------------------------------
  // Customers
  // -------------------------------------------------------------------------------------------

  async #purchase(final: boolean): Promise<void> {
    await this.#settle(undefined);
    const r = this.#random;
    const chosen: { plan: KillPlan; behaviour: Behaviour } = final
      ? { plan: { kind: 'none' }, behaviour: 'cancelButton' }
      : this.#choose();
    const { behaviour } = chosen;
    this.#purchases += 1;
    count(this.#behaviours, behaviour);
    const daemon = this.#current;
    const slot = r.int(1, 3);
    // The customer pays what the screen shows: a frame with the QR code, not a log line.
    const shown = daemon
      .waitFor(
        (l) => l.msg === '(frame)' && typeof l['invoiceReference'] === 'string',
        15_000,
        'pay screen',
      )
      .then(
        (l) => (typeof l['invoiceReference'] === 'string' ? l['invoiceReference'] : undefined),
        () => undefined,
      );
    if (behaviour === 'payNoDrop') await this.#post(daemon, '/api/drop', { next: 'notDelivered' });
    this.#arm(chosen.plan, false, daemon);
    await this.#post(daemon, '/api/press', { button: { kind: 'product', slot } });
    const ref = await shown;
    if (ref !== undefined) await this.#customer(behaviour, ref);
    await this.#settle(ref);
    // Settled means every restart reached READY: a plan that did not fire has nothing left to hit.
    this.#disarm();
  }

  /** What the customer does once the QR code is on the screen. */
  async #customer(behaviour: Behaviour, ref: string): Promise<void> {
    const r = this.#random;
    const sim = this.#simulator;
    if (!sim) return;
    const act = (what: () => void): void => {
      try {
        what();
      } catch {
        this.#customerTooLate += 1;
      }
    };
    switch (behaviour) {
      case 'pay':
      case 'payNoDrop':
        await sleep(r.int(50, 1_000));
        act(() => {
          sim.control.pay(ref);
        });
        return;
      case 'payWhilePaying':
        act(() => {
          sim.control.startPaying(ref);
        });
        await sleep(r.int(100, 1_000));
        act(() => {
          sim.control.pay(ref);
        });
        return;
      case 'cancelButton':
        await sleep(r.int(50, 1_000));
        await this.#post(this.#current, '/api/press', { button: { kind: 'cancel' } });
        return;
      case 'cancelInApp':
        await sleep(r.int(50, 1_000));
        act(() => {
          sim.control.cancelInApp(ref);
        });
        return;
      case 'fail':
        await sleep(r.int(50, 1_000));
        act(() => {
          sim.control.fail(ref);
        });
        return;
      case 'payLate':
        await sleep(r.int(50, 800));
        await this.#post(this.#current, '/api/press', { button: { kind: 'cancel' } });
        await sleep(r.int(0, 300));
        act(() => {
          sim.control.pay(ref);
        });
        return;
      case 'neverPay':
        return;
      case 'payThenOutage': {
        await sleep(r.int(50, 500));
        try {
          sim.control.pay(ref);
        } catch {
          this.#customerTooLate += 1;
          return;
        }
        this.#disarm();
        this.#outagePending = true;
        if (!this.#kill('outage', this.#current)) this.#outagePending = false;
        return;
      }
    }
  }

  /** POSTs JSON to the daemon's kiosk; a dead or restarting daemon is not an error here. */
  async #post(daemon: DaemonProcess, route: string, body: unknown): Promise<void> {
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
      // The daemon was killed under the request.
    }
  }

  /**
   * Waits until no restart runs, the daemon is READY and idle, and SEQR holds `ref` (when given)
   * in a final state. Past the bound the purchase counts as stuck and the daemon is killed.
   */
  async #settle(ref: string | undefined): Promise<void> {
    const deadline = Date.now() + SETTLE_TIMEOUT_MS;
    let idleSince: number | undefined;
    for (;;) {
      await this.#settledRestart();
      const daemon = this.#current;
      const invoice = ref === undefined ? undefined : this.#simulator?.control.invoice(ref);
      const invoiceFinal =
        !invoice ||
        (!OPEN_STATUS.has(invoice.status) && !(invoice.status === 'PAID' && !invoice.committed));
      const idle = daemon.alive && daemon.ready && daemon.state === 'idle';
      if (idle && invoiceFinal) return;
      idleSince = idle ? (idleSince ?? Date.now()) : undefined;
      if (
        ref !== undefined &&
        invoice &&
        idleSince !== undefined &&
        Date.now() - idleSince > WALK_AWAY_MS
      ) {
        // Back at idle (recovery done) while the invoice it showed is still open at SEQR.
        this.#walkedAway.push(
          `${ref} ${invoice.status}${invoice.committed ? '' : ' (uncommitted)'}`,
        );
        return;
      }
      if (Date.now() > deadline) {
        this.#stuck += 1;
        this.#incident(
          `not settled within ${SETTLE_TIMEOUT_MS} ms: state ${daemon.state ?? '-'}, invoice ${ref ?? '-'} ${invoice?.status ?? ''}`,
          daemon,
        );
        this.#kill('stuck', daemon);
        return;
      }
      await sleep(25);
    }
  }

  #incident(what: string, daemon: DaemonProcess): void {
    if (this.#incidents.length < 5)
      this.#incidents.push(`${what}\n  ${daemon.tail.slice(-25).join('\n  ')}`);
  }

  // -------------------------------------------------------------------------------------------
  // The verdict
  // -------------------------------------------------------------------------------------------

  #verdict(finalExitCode: number | null): TortureResult {
    const sim = this.#simulator;
    if (!sim) throw new Error('simulator not started');
    const invoices = sim.control.invoices().filter((i) => i.terminalId === sim.terminal.id);
    const relayFile = path.join(this.#dir, 'relay.jsonl');
    const relay = parseRelayRecord(existsSync(relayFile) ? readFileSync(relayFile, 'utf8') : '');
    const ledger = SqliteLedger.open({
      path: ledgerPath(path.join(this.#dir, 'state')),
      readonly: true,
    });
    let views: TransactionView[];
    let check: CheckResult;
    const evidence: string[] = [];
    try {
      views = ledger.transactions();
      check = checkRun({ invoices, relay: relay.records, ledger: views });
      // The sequence behind the first violations: SEQR's history and the ledger's steps.
      for (const v of check.violations.slice(0, 10)) {
        const ref = v.invoiceReference;
        const txId =
          v.txId ?? views.find((w) => ref !== undefined && w.invoiceReference === ref)?.txId;
        const history = ref === undefined ? undefined : sim.control.invoice(ref)?.history;
        const steps = txId === undefined ? [] : ledger.entries(txId);
        const times = [...(history ?? []).map((h) => h.at), ...steps.map((e) => e.at)];
        const from = Math.min(...times) - 1_000;
        const to = Math.max(...times) + 1_000;
        const kills = this.#killLog.filter((k) => k.at >= from && k.at <= to);
        evidence.push(
          [
            `${v.kind} ${ref ?? '-'} tx ${txId ?? '-'}: ${v.detail}`,
            `  SEQR: ${(history ?? []).map((h) => `${h.status}@${h.at}`).join(' ')}`,
            `  kills: ${kills.map((k) => `${k.point}@${k.at} (#${k.incarnation})`).join(' ')}`,
            `  relay: ${relay.records
              .filter((e) => e.invoiceReference === ref || (txId !== undefined && e.txId === txId))
              .map((e) => `${e.energised ? 'on' : 'off'}@${e.at}`)
              .join(' ')}`,
            ...steps.map(
              (e) =>
                `  ledger ${e.at} ${JSON.stringify({ ...e, txId: undefined, at: undefined, seq: undefined })}`,
            ),
          ].join('\n'),
        );
      }
    } finally {
      void ledger.close();
    }
    const known = new Set(views.map((v) => v.invoiceReference));
    // `kills` excludes the harness's own stuck-recovery kills.
    const stuckKills = this.#killsByPoint['stuck'] ?? 0;
    return {
      seed: this.#random.seed,
      purchases: this.#purchases,
      kills: this.#kills - stuckKills,
      restarts: this.#restarts,
      killsByPoint: { ...this.#killsByPoint },
      behaviours: { ...this.#behaviours },
      calls: { ...this.#calls },
      errorCodes: { ...this.#errorCodes },
      customerTooLate: this.#customerTooLate,
      unexpectedExits: this.#unexpectedExits,
      stuck: this.#stuck,
      invoicesUnknownToLedger: invoices.filter((i) => !known.has(i.reference)).length,
      tornRelayLines: relay.torn,
      finalExitCode,
      check,
      evidence,
      durationMs: Date.now() - this.#started,
      directory: this.#dir,
      incidents: [...this.#incidents],
      restartMs: [...this.#restartMs],
      walkedAway: [...this.#walkedAway],
    };
  }
}

/** The result as printable lines: counts, kills by point, violations per kind. */
export function describeResult(result: TortureResult): string[] {
  const sorted = (m: Readonly<Record<string, number>>): string =>
    Object.entries(m)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
  const c = result.check.counts;
  return [
    `seed ${result.seed}: ${result.purchases} purchases, ${result.kills} kills, ${result.restarts} restarts in ${(result.durationMs / 1000).toFixed(0)} s`,
    `violations: ${result.check.violations.length} (${sorted(result.check.byKind)})`,
    `SEQR: ${c.invoices} invoices, ${c.paid} paid, ${c.refundedAtSeqr} refunded, ${c.reversed} reversed; ${result.invoicesUnknownToLedger} unknown to the ledger`,
    `relay: ${c.pulses} pulses, ${result.tornRelayLines} torn lines; ledger: ${c.ledgerTransactions} transactions (${sorted(c.ledgerOutcomes)})`,
    `kills by point: ${sorted(result.killsByPoint)}`,
    `behaviours: ${sorted(result.behaviours)}; payer too late ${result.customerTooLate}`,
    `SOAP calls: ${sorted(result.calls)}`,
    `daemon error codes: ${sorted(result.errorCodes)}`,
    `kill to READY: p50 ${percentile(result.restartMs, 50)} ms, max ${percentile(result.restartMs, 100)} ms`,
    `walked away from shown invoices: ${result.walkedAway.length}${result.walkedAway.length > 0 ? ` (${result.walkedAway.slice(0, 10).join(', ')})` : ''}`,
    `unexpected exits ${result.unexpectedExits}, stuck ${result.stuck}, final exit code ${String(result.finalExitCode)}`,
    ...result.evidence.map((e) => `EVIDENCE ${e}`),
    ...result.check.violations
      .slice(0, 20)
      .map((v) => `VIOLATION ${v.kind} ${v.invoiceReference ?? ''} ${v.txId ?? ''}: ${v.detail}`),
    ...result.incidents.map((i) => `INCIDENT ${i}`),
  ];
}
