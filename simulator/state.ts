// The simulated SEQR back end: terminals, resellers, invoices, payments, refunds and transaction
// periods, with the documented behaviour (API.md §7, §9, §11). No I/O here: the SOAP layer decodes
// requests into these calls, and every timer and timestamp goes through the injected Clock.
import { randomBytes, randomInt } from 'node:crypto';
import type { Clock, TimerHandle } from '../daemon/ports/clock.js';
import { VendError } from '../daemon/errors.js';
import { formatAmount, parseAmount } from './decimal.js';

export type InvoiceStatus =
  'ISSUED' | 'PAID' | 'PENDING_ISSUER_ACKNOWLEDGE' | 'CANCELED' | 'FAILED' | 'RESERVED' | 'EXPIRED';

export interface Amount {
  readonly currency: string;
  readonly value: string;
}

/** One `invoiceRow`, as received (API.md §5.5). */
export interface InvoiceRowData {
  readonly itemDescription?: string;
  readonly itemDiscount?: Amount;
  readonly itemEAN?: string;
  readonly itemQuantity?: string;
  readonly itemSKU?: string;
  readonly itemTaxRate?: string;
  readonly itemTotalAmount?: Amount;
  readonly itemUnit?: string;
  readonly itemUnitPrice?: Amount;
}

/** An `invoice` as received (API.md §5.4); absent elements are undefined. */
export interface InvoiceData {
  readonly paymentMode?: string;
  readonly acknowledgmentMode?: string;
  readonly issueDate?: string;
  readonly title?: string;
  readonly clientInvoiceId?: string;
  readonly invoiceRows?: readonly InvoiceRowData[];
  readonly totalAmount?: Amount;
  readonly cashierId?: string;
  readonly footer?: string;
  readonly backURL?: string;
  readonly notificationUrl?: string;
  readonly commitReservationTimeout?: string;
}

/** The `context` of a request, reduced to what authentication needs. */
export interface Caller {
  readonly id?: string;
  readonly type?: string;
  readonly userId?: string;
  readonly password?: string;
}

export interface Terminal {
  readonly id: string;
  password: string;
  readonly resellerKey: string;
  name?: string;
  externalTerminalId?: string;
  seqrId?: string;
}

export interface Reseller {
  readonly id: string;
  readonly userId: string;
  readonly password: string;
}

/** A refund of a payment; `value` is the amount as sent. */
export interface Refund {
  readonly ersReference: string;
  readonly value: string;
  readonly at: number;
}

/** Read-only view of one invoice for tests and the control API. */
export interface InvoiceSnapshot {
  reference: string;
  terminalId: string;
  status: string;
  version: number;
  amount: { currency: string; value: string };
  clientInvoiceId?: string;
  /** True once a getPaymentStatus returned PAID (or commitReservation succeeded). */
  committed: boolean;
  /** True when the payment was reversed because no poll came within `reversalMs`. */
  reversed: boolean;
  ersReference?: string;
  refunds: { ersReference: string; value: string }[];
  /** getPaymentStatus calls that named this invoice. */
  polls: number;
  /** Clock time at which the payer paid (or the amount was reserved). */
  paidAt?: number;
  history: { at: number; status: string }[];
  /** Beyond the contract: submitPaymentReceipt calls accepted for this payment or its refunds. */
  receipts: number;
  /** Beyond the contract: the invoice's payment mode and effective acknowledgment mode. */
  paymentMode: string;
  acknowledgmentMode: string;
  title?: string;
  /** Beyond the contract: the amount the payer reserved (reservation modes, once RESERVED). */
  reserved?: { currency: string; value: string };
  /** Beyond the contract: the invoice's notificationUrl and rows as last sent (sendInvoice or updateInvoice). */
  notificationUrl?: string;
  rows?: { description?: string; quantity?: string; total?: string }[];
}

/**
 * Beyond the contract: what the simulated SEQR tells the merchant's notificationUrl (API.md §9.8):
 * the payer paid (PAID), confirmed a reservation (RESERVED) or cancelled one (CANCELED).
 */
export interface PayerOutcome {
  readonly url: string;
  readonly invoiceReference: string;
  readonly clientInvoiceId?: string;
  readonly status: 'PAID' | 'RESERVED' | 'CANCELED';
}

interface InvoiceRecord {
  readonly reference: string;
  readonly terminalId: string;
  readonly resellerKey: string;
  status: InvoiceStatus;
  version: number;
  invoice: InvoiceData;
  amount: Amount;
  /** Set when the payer reserved: the ceiling of updateInvoice and commitReservation. */
  reserved?: Amount;
  readonly paymentMode: string;
  readonly acknowledgmentMode: string;
  scanned: boolean;
  acknowledged: boolean;
  inProgress: boolean;
  committed: boolean;
  reversed: boolean;
  ersReference?: string;
  paidAt?: number;
  payerTerminalId?: string;
  refunds: Refund[];
  receipts: number;
  polls: number;
  history: { at: number; status: string }[];
  timer?: TimerHandle;
}

interface Period {
  readonly id: string;
  readonly resellerKey: string;
  readonly terminalId?: string;
  readonly from: number;
  readonly to: number;
  notReadyLeft: number;
}

/** A report as executeReport returns it (API.md §5.10). */
export interface ReportData {
  readonly title: string;
  readonly mimeType: string;
  readonly contentString: string;
}

/** The invoice and terminal data a PAID getPaymentStatus answer carries. */
export interface PaidView {
  readonly invoice: InvoiceData;
  readonly terminalId: string;
  readonly receiverName: string;
  readonly paidAt: number;
  readonly reference: string;
  readonly ersReference: string;
  readonly payerTerminalId: string;
}

export interface StatusView {
  readonly status: InvoiceStatus;
  readonly version: number;
  readonly paid?: PaidView;
}

/** Business result of one call: `code` is the SEQR resultCode. */
export type Outcome<T = object> = ({ code: 0 } & T) | { code: number };

/**
 * A control action (scan, pay, ...) that does not apply: `status` 404 for an unknown invoice, 409
 * for an invoice in the wrong state. The HTTP control API answers with that status.
 */
export class SimulatorControlError extends VendError {
  readonly status: 404 | 409;
  constructor(status: 404 | 409, message: string) {
    super('E_SIM_CONTROL', message);
    this.name = 'SimulatorControlError';
    this.status = status;
  }
}

export interface StateOptions {
  readonly clock: Clock;
  readonly reversalMs: number;
  readonly missingAckMode: 'REQUIRE_ACKNOWLEDGMENT' | 'NO_ACKNOWLEDGMENT';
  /** executeReport calls answered REPORT_NOT_READY (2) per period before the report is ready. */
  readonly reportNotReadyCalls: number;
  /** How long a reservation without commitReservationTimeout stays RESERVED before EXPIRED. */
  readonly reservationTimeoutMs?: number;
  /** Called when the payer's action is one SEQR notifies the invoice's notificationUrl about. */
  readonly onPayerOutcome?: (outcome: PayerOutcome) => void;
}

const RESERVATION_MODES: ReadonlySet<string> = new Set([
  'RESERVATION_DESIRED',
  'RESERVATION_REQUIRED',
  'RESERVATION_REQUIRED_PRELIMINARY_AMOUNT',
]);
const OPEN: ReadonlySet<InvoiceStatus> = new Set(['ISSUED', 'PENDING_ISSUER_ACKNOWLEDGE']);

/** Reports the simulator can build, by reportId (API.md §11). */
const REPORTS: Readonly<
  Record<
    string,
    {
      root: string;
      file: string;
      kind: 'summary' | 'terminals' | 'details' | 'cashiers';
      scope: 'shop' | 'terminal';
    }
  >
> = {
  'Reconciliation/Shop.xml': {
    root: 'ResellerTransactionSummary',
    file: '',
    kind: 'summary',
    scope: 'shop',
  },
  'Reconciliation/STD_RECON_001.xml': {
    root: 'ResellerTransactionSummary',
    file: 'STD_RECON_001',
    kind: 'summary',
    scope: 'shop',
  },
  'Reconciliation/STD_RECON_002.xml': {
    root: 'TerminalTransactionSummary',
    file: 'STD_RECON_002',
    kind: 'terminals',
    scope: 'shop',
  },
  'Reconciliation/STD_RECON_003.xml': {
    root: 'TransactionDetails',
    file: 'STD_RECON_003',
    kind: 'details',
    scope: 'shop',
  },
  'Reconciliation/STD_RECON_004.xml': {
    root: 'CashierTransactionSummary',
    file: 'STD_RECON_004',
    kind: 'cashiers',
    scope: 'shop',
  },
  'Reconciliation/STD_RECON_006.xml': {
    root: 'TerminalTransactionSummary',
    file: 'STD_RECON_006',
    kind: 'summary',
    scope: 'terminal',
  },
  'Reconciliation/STD_RECON_007.xml': {
    root: 'TransactionDetails',
    file: 'STD_RECON_007',
    kind: 'details',
    scope: 'terminal',
  },
};

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

/** `yyyyMMddHHmmssSSS` in the machine's local time. */
function stamp(ms: number): string {
  const d = new Date(ms);
  return (
    `${d.getFullYear()}${pad(d.getMonth() + 1)}${pad(d.getDate())}` +
    `${pad(d.getHours())}${pad(d.getMinutes())}${pad(d.getSeconds())}${pad(d.getMilliseconds(), 3)}`
  );
}

/** xs:dateTime as Java writes a Date: local time, milliseconds and offset (`...48.663+01:00`). */
export function formatDateTime(ms: number): string {
  const d = new Date(ms);
  const offset = -d.getTimezoneOffset();
  const sign = offset < 0 ? '-' : '+';
  const abs = Math.abs(offset);
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}` +
    `${sign}${pad(Math.trunc(abs / 60))}:${pad(abs % 60)}`
  );
}

/** A random 32-hex terminal id (API.md §12). */
export function newTerminalId(): string {
  return randomBytes(16).toString('hex');
}

function resellerKey(id: string, userId: string): string {
  return `${id}/${userId}`;
}

export class SimulatorState {
  private readonly terminals = new Map<string, Terminal>();
  private readonly resellers = new Map<string, Reseller>();
  private readonly invoices = new Map<string, InvoiceRecord>();
  private readonly payments = new Map<string, InvoiceRecord>();
  private readonly refundOwners = new Map<string, InvoiceRecord>();
  private readonly periods = new Map<string, Period>();
  private readonly periodStarts = new Map<string, number>();
  private readonly startedAt: number;
  private sequence = 0;
  private closed = false;

  constructor(private readonly options: StateOptions) {
    this.startedAt = options.clock.now();
  }

  get clock(): Clock {
    return this.options.clock;
  }

  addReseller(reseller: Reseller): void {
    this.resellers.set(resellerKey(reseller.id, reseller.userId), { ...reseller });
  }

  /** Adds (or replaces) a terminal owned by `owner`; a short password is kept (it yields 21 later). */
  addTerminal(t: { id: string; password: string }, owner: Reseller): void {
    this.terminals.set(t.id, {
      id: t.id,
      password: t.password,
      resellerKey: resellerKey(owner.id, owner.userId),
    });
  }

  /** Stops every timer; later timers never fire. */
  close(): void {
    this.closed = true;
    for (const invoice of this.invoices.values()) this.clearTimer(invoice);
  }

  // ---- authentication (API.md §8: 20, 21, 29, 37) ----------------------------------------------

  authenticateTerminal(caller: Caller): Outcome<{ terminal: Terminal }> {
    if (caller.type === 'RESELLERUSER') {
      const reseller = this.authenticateReseller(caller);
      return reseller.code === 0 ? { code: 21 } : reseller;
    }
    const terminal = caller.id === undefined ? undefined : this.terminals.get(caller.id);
    if (!terminal) return { code: 29 };
    if (caller.password !== terminal.password) return { code: 20 };
    if (terminal.password.length < 4) return { code: 21 };
    return { code: 0, terminal };
  }

  authenticateReseller(caller: Caller): Outcome<{ reseller: Reseller }> {
    if (caller.type !== 'RESELLERUSER') {
      const terminal = this.authenticateTerminal({ ...caller, type: 'TERMINALID' });
      return terminal.code === 0 ? { code: 21 } : terminal;
    }
    let id = caller.id ?? '';
    let userId = caller.userId;
    if (userId === undefined) {
      const slash = id.lastIndexOf('/');
      if (slash > 0) {
        userId = id.slice(slash + 1);
        id = id.slice(0, slash);
      }
    }
    const reseller = this.resellers.get(resellerKey(id, userId ?? ''));
    if (!reseller) return { code: 37 };
    if (caller.password !== reseller.password) return { code: 20 };
    return { code: 0, reseller };
  }

  // ---- identifiers (API.md §12) ------------------------------------------------------------

  private nextInvoiceReference(): string {
    const day = stamp(this.clock.now()).slice(0, 8);
    for (;;) {
      const ref = day + pad(randomInt(1_000_000_000), 9);
      if (!this.invoices.has(ref)) return ref;
    }
  }

  /** 25 digits: `yyyyMMddHHmmssSSS` + `01` + a 6-digit sequence number. */
  private nextErsReference(): string {
    this.sequence = (this.sequence + 1) % 1_000_000;
    return `${stamp(this.clock.now())}01${pad(this.sequence, 6)}`;
  }

  // ---- invoices ------------------------------------------------------------------------------

  private validInvoice(invoice: InvoiceData | undefined): Outcome<{ amount: Amount }> {
    const total = invoice?.totalAmount;
    const value = parseAmount(total?.value);
    if (!total || total.currency.trim() === '' || value === undefined || value < 0n)
      return { code: 49 };
    const url = invoice.notificationUrl;
    if (url !== undefined && !/^https?:\/\/\S+$/i.test(url)) return { code: 64 };
    return { code: 0, amount: { currency: total.currency.trim(), value: total.value.trim() } };
  }

  private setStatus(invoice: InvoiceRecord, status: InvoiceStatus): void {
    invoice.status = status;
    invoice.version += 1;
    invoice.history.push({ at: this.clock.now(), status });
  }

  private clearTimer(invoice: InvoiceRecord): void {
    if (invoice.timer !== undefined) this.clock.clearTimeout(invoice.timer);
    delete invoice.timer;
  }

  private record(ref: string): InvoiceRecord {
    const invoice = this.invoices.get(ref);
    if (!invoice) throw new SimulatorControlError(404, `no invoice with reference ${ref}`);
    return invoice;
  }

  private conflict(invoice: InvoiceRecord, action: string): SimulatorControlError {
    return new SimulatorControlError(
      409,
      `cannot ${action} invoice ${invoice.reference}: it is ${invoice.status}`,
    );
  }

  sendInvoice(terminal: Terminal, data: InvoiceData | undefined): Outcome<{ reference: string }> {
    const valid = this.validInvoice(data);
    if (valid.code !== 0 || !('amount' in valid) || !data) return valid;
    // One active invoice per cash-register terminal: a new one cancels the unpaid previous one.
    for (const previous of this.invoices.values()) {
      if (previous.terminalId === terminal.id && OPEN.has(previous.status)) {
        previous.inProgress = false;
        this.setStatus(previous, 'CANCELED');
      }
    }
    const reference = this.nextInvoiceReference();
    const ack = data.acknowledgmentMode ?? this.options.missingAckMode;
    const now = this.clock.now();
    this.invoices.set(reference, {
      reference,
      terminalId: terminal.id,
      resellerKey: terminal.resellerKey,
      status: 'ISSUED',
      version: 1,
      invoice: data,
      amount: valid.amount,
      paymentMode: data.paymentMode ?? 'IMMEDIATE_DEBIT',
      acknowledgmentMode: ack,
      scanned: false,
      acknowledged: false,
      inProgress: false,
      committed: false,
      reversed: false,
      refunds: [],
      receipts: 0,
      polls: 0,
      history: [{ at: now, status: 'ISSUED' }],
    });
    return { code: 0, reference };
  }

  private ownInvoice(terminal: Terminal, ref: string | undefined): InvoiceRecord | undefined {
    if (ref === undefined) {
      let latest: InvoiceRecord | undefined;
      for (const invoice of this.invoices.values())
        if (invoice.terminalId === terminal.id) latest = invoice;
      return latest;
    }
    const invoice = this.invoices.get(ref);
    return invoice?.terminalId === terminal.id ? invoice : undefined;
  }

  updateInvoice(
    terminal: Terminal,
    ref: string | undefined,
    data: InvoiceData | undefined,
  ): Outcome {
    const invoice = this.ownInvoice(terminal, ref);
    if (!invoice || ref === undefined) return { code: 54 };
    if (invoice.inProgress) return { code: 48 };
    if (!OPEN.has(invoice.status) && invoice.status !== 'RESERVED') return { code: 49 };
    const valid = this.validInvoice(data);
    if (valid.code !== 0 || !('amount' in valid) || !data) return valid;
    if (invoice.status === 'RESERVED') {
      // Reservation flows set the final rows before the commit; never above what was reserved.
      const ceiling = invoice.reserved ?? invoice.amount;
      if (valid.amount.currency !== ceiling.currency) return { code: 49 };
      if ((parseAmount(valid.amount.value) ?? 0n) > (parseAmount(ceiling.value) ?? 0n))
        return { code: 11 };
    }
    invoice.invoice = data;
    invoice.amount = valid.amount;
    if (invoice.status === 'PENDING_ISSUER_ACKNOWLEDGE') {
      invoice.acknowledged = true;
      this.setStatus(invoice, 'ISSUED');
    }
    return { code: 0 };
  }

  getPaymentStatus(terminal: Terminal, ref: string | undefined): Outcome<StatusView> {
    const invoice = this.ownInvoice(terminal, ref);
    if (!invoice) return { code: 54 };
    invoice.polls += 1;
    if (invoice.status === 'PAID' && !invoice.committed) {
      // The first poll that sees PAID commits the payment (API.md §9.3).
      invoice.committed = true;
      this.clearTimer(invoice);
    }
    return {
      code: 0,
      status: invoice.status,
      version: invoice.version,
      ...this.paidView(invoice, terminal),
    };
  }

  private paidView(invoice: InvoiceRecord, terminal: Terminal): { paid?: PaidView } {
    if (
      invoice.status !== 'PAID' ||
      invoice.ersReference === undefined ||
      invoice.paidAt === undefined
    )
      return {};
    return {
      paid: {
        invoice: invoice.invoice,
        terminalId: invoice.terminalId,
        receiverName: terminal.name ?? invoice.invoice.title ?? 'SEQR simulator',
        paidAt: invoice.paidAt,
        reference: invoice.reference,
        ersReference: invoice.ersReference,
        payerTerminalId: invoice.payerTerminalId ?? '',
      },
    };
  }

  cancelInvoice(terminal: Terminal, ref: string | undefined): Outcome {
    const invoice = this.ownInvoice(terminal, ref);
    if (!invoice || ref === undefined) return { code: 54 };
    switch (invoice.status) {
      case 'PAID':
        return { code: 50 };
      case 'CANCELED':
      case 'EXPIRED':
        return { code: 95 };
      case 'FAILED':
        return { code: 0 };
      case 'ISSUED':
      case 'PENDING_ISSUER_ACKNOWLEDGE':
      case 'RESERVED':
        if (invoice.inProgress) return { code: 51 };
        this.clearTimer(invoice);
        this.setStatus(invoice, 'CANCELED');
        return { code: 0 };
    }
  }

  commitReservation(
    terminal: Terminal,
    ref: string | undefined,
    amount: Amount | undefined,
  ): Outcome {
    const invoice = this.ownInvoice(terminal, ref);
    if (!invoice || ref === undefined) return { code: 54 };
    if (invoice.status !== 'RESERVED') return { code: 96 };
    const ceiling = invoice.reserved ?? invoice.amount;
    const final = amount ?? invoice.amount;
    const value = parseAmount(final.value);
    if (value === undefined || value < 0n || final.currency.trim() !== ceiling.currency)
      return { code: 49 };
    // Beyond the contract: committing nothing is refused; a reservation that sold nothing is cancelled.
    if (value > (parseAmount(ceiling.value) ?? 0n) || value === 0n) return { code: 11 };
    invoice.amount = { currency: ceiling.currency, value: final.value.trim() };
    this.clearTimer(invoice);
    invoice.committed = true;
    this.setStatus(invoice, 'PAID');
    return { code: 0 };
  }

  submitPaymentReceipt(terminal: Terminal, ersReference: string | undefined): Outcome {
    const owner =
      ersReference === undefined
        ? undefined
        : (this.payments.get(ersReference) ?? this.refundOwners.get(ersReference));
    if (!owner || owner.terminalId !== terminal.id) return { code: 23 };
    owner.receipts += 1;
    return { code: 0 };
  }

  refundPayment(
    terminal: Terminal,
    ersReference: string | undefined,
    data: InvoiceData | undefined,
  ): Outcome<{ ersReference: string }> {
    const payment = ersReference === undefined ? undefined : this.payments.get(ersReference);
    if (!payment || payment.terminalId !== terminal.id || payment.status !== 'PAID')
      return { code: 23 };
    const total = data?.totalAmount;
    const value = parseAmount(total?.value);
    if (!total || value === undefined) return { code: 49 };
    if (total.currency.trim() !== payment.amount.currency) return { code: 49 };
    if (value <= 0n) return { code: 11 };
    const url = data.notificationUrl;
    if (url !== undefined && !/^https?:\/\/\S+$/i.test(url)) return { code: 64 };
    const refunded = payment.refunds.reduce((sum, r) => sum + (parseAmount(r.value) ?? 0n), 0n);
    if (refunded + value > (parseAmount(payment.amount.value) ?? 0n)) return { code: 98 };
    const refund: Refund = {
      ersReference: this.nextErsReference(),
      value: total.value.trim(),
      at: this.clock.now(),
    };
    payment.refunds.push(refund);
    this.refundOwners.set(refund.ersReference, payment);
    return { code: 0, ersReference: refund.ersReference };
  }

  // ---- terminals -----------------------------------------------------------------------------

  registerTerminal(
    reseller: Reseller,
    password: string | undefined,
    name: string | undefined,
    externalTerminalId: string | undefined,
  ): Outcome<{ terminalId: string }> {
    if (password === undefined) return { code: 22 };
    const id = newTerminalId();
    this.terminals.set(id, {
      id,
      password,
      resellerKey: resellerKey(reseller.id, reseller.userId),
      ...(name === undefined ? {} : { name }),
      ...(externalTerminalId === undefined ? {} : { externalTerminalId }),
    });
    return { code: 0, terminalId: id };
  }

  unregisterTerminal(terminal: Terminal): Outcome {
    for (const invoice of this.invoices.values())
      if (invoice.terminalId === terminal.id && OPEN.has(invoice.status) && !invoice.inProgress)
        this.setStatus(invoice, 'CANCELED');
    this.terminals.delete(terminal.id);
    return { code: 0 };
  }

  assignSeqrId(terminal: Terminal, seqrId: string | undefined): Outcome {
    if (seqrId === undefined || !/^[A-Za-z0-9]+$/.test(seqrId)) return { code: 53 };
    for (const other of this.terminals.values())
      if (other.id !== terminal.id && other.seqrId === seqrId) return { code: 53 };
    terminal.seqrId = seqrId;
    return { code: 0 };
  }

  // ---- reconciliation (API.md §7.11, §7.12, §11) ---------------------------------------------

  markTransactionPeriod(
    reseller: Reseller,
    parameters: ReadonlyMap<string, string>,
  ): Outcome<{ transactionPeriodId: string }> {
    const key = resellerKey(reseller.id, reseller.userId);
    const terminalId = parameters.get('TERMINALID');
    if (terminalId !== undefined && this.terminals.get(terminalId)?.resellerKey !== key)
      return { code: 29 };
    const scope = terminalId === undefined ? key : `${key}|${terminalId}`;
    const now = this.clock.now();
    const id = this.nextErsReference();
    this.periods.set(id, {
      id,
      resellerKey: key,
      ...(terminalId === undefined ? {} : { terminalId }),
      // Periods are (from, to]: a payment in the same millisecond as a mark belongs to the closing one.
      from: this.periodStarts.get(scope) ?? this.startedAt - 1,
      to: now,
      notReadyLeft: this.options.reportNotReadyCalls,
    });
    this.periodStarts.set(scope, now);
    return { code: 0, transactionPeriodId: id };
  }

  executeReport(
    reseller: Reseller,
    reportId: string | undefined,
    parameters: ReadonlyMap<string, string>,
  ): Outcome<{ report: ReportData }> {
    const spec = reportId === undefined ? undefined : REPORTS[reportId];
    if (!spec) return { code: 91 };
    const periodId = parameters.get('transactionPeriodId');
    const period = periodId === undefined ? undefined : this.periods.get(periodId);
    const key = resellerKey(reseller.id, reseller.userId);
    // Unknown periods and terminal reports of a shop-wide period stay "not ready" (API.md §7.11).
    if (!period || period.resellerKey !== key) return { code: 2 };
    const terminalId = parameters.get('TERMINALID');
    if (
      spec.scope === 'terminal' &&
      (period.terminalId === undefined || period.terminalId !== terminalId)
    )
      return { code: 2 };
    if (period.notReadyLeft > 0) {
      period.notReadyLeft -= 1;
      return { code: 2 };
    }
    const sales = [...this.invoices.values()].filter(
      (invoice) =>
        invoice.resellerKey === key &&
        invoice.status === 'PAID' &&
        invoice.committed &&
        invoice.paidAt !== undefined &&
        invoice.paidAt > period.from &&
        invoice.paidAt <= period.to &&
        (period.terminalId === undefined || invoice.terminalId === period.terminalId),
    );
    const meta =
      `<Meta><ResellerId>${xmlText(reseller.id)}</ResellerId>` +
      (period.terminalId === undefined
        ? ''
        : `<TerminalId>${xmlText(period.terminalId)}</TerminalId>`) +
      `<TransactionPeriodId>${period.id}</TransactionPeriodId>` +
      `<GeneratedAt>${formatDateTime(this.clock.now()).slice(0, 16).replace('T', ' ')}</GeneratedAt></Meta>`;
    const summaryRow = (group: readonly InvoiceRecord[], extra: string): string =>
      `<Row>${extra}<SalesCount>${group.length}</SalesCount><SalesTotal>${formatAmount(
        group.reduce((sum, i) => sum + (parseAmount(i.amount.value) ?? 0n), 0n),
      )}</SalesTotal></Row>`;
    const grouped = (by: (i: InvoiceRecord) => string): Map<string, InvoiceRecord[]> => {
      const groups = new Map<string, InvoiceRecord[]>();
      for (const sale of sales) groups.set(by(sale), [...(groups.get(by(sale)) ?? []), sale]);
      return groups;
    };
    let rows: string;
    switch (spec.kind) {
      case 'summary':
        rows = summaryRow(sales, '');
        break;
      case 'terminals':
        rows = [...grouped((i) => i.terminalId)]
          .map(([id, group]) => summaryRow(group, `<TerminalId>${xmlText(id)}</TerminalId>`))
          .join('');
        break;
      case 'cashiers':
        rows = [...grouped((i) => i.invoice.cashierId ?? 'NULL')]
          .map(([id, group]) => summaryRow(group, `<CashierId>${xmlText(id)}</CashierId>`))
          .join('');
        break;
      case 'details':
        rows = sales
          .map(
            (i) =>
              `<Row><TerminalId>${xmlText(i.terminalId)}</TerminalId><CashierId>${xmlText(
                i.invoice.cashierId ?? 'NULL',
              )}</CashierId><SalesAmount>${formatAmount(parseAmount(i.amount.value) ?? 0n)}</SalesAmount>` +
              `<ErsReference>${i.ersReference ?? ''}</ErsReference></Row>`,
          )
          .join('');
        break;
    }
    return {
      code: 0,
      report: {
        title: spec.file === '' ? '' : `${spec.file}_${period.id}.xml`,
        mimeType: 'text/html',
        contentString: `<?xml version="1.0" encoding="UTF-8"?><${spec.root}>${meta}${rows}</${spec.root}>`,
      },
    };
  }

  // ---- the payer's side (control API) ------------------------------------------------------

  private needsAck(invoice: InvoiceRecord): boolean {
    return invoice.acknowledgmentMode === 'REQUIRE_ACKNOWLEDGMENT';
  }

  scan(ref: string): void {
    const invoice = this.record(ref);
    if (!OPEN.has(invoice.status)) throw this.conflict(invoice, 'scan');
    if (invoice.scanned) return;
    invoice.scanned = true;
    if (this.needsAck(invoice) && !invoice.acknowledged)
      this.setStatus(invoice, 'PENDING_ISSUER_ACKNOWLEDGE');
  }

  private payable(invoice: InvoiceRecord, action: string): void {
    if (invoice.status !== 'ISSUED') throw this.conflict(invoice, action);
    if (this.needsAck(invoice) && !invoice.acknowledged)
      throw new SimulatorControlError(
        409,
        `cannot ${action} invoice ${invoice.reference}: it requires acknowledgment (scan it, then updateInvoice)`,
      );
    invoice.scanned = true;
  }

  startPaying(ref: string): void {
    const invoice = this.record(ref);
    this.payable(invoice, 'start paying');
    invoice.inProgress = true;
  }

  pay(ref: string): void {
    const invoice = this.record(ref);
    this.payable(invoice, 'pay');
    invoice.inProgress = false;
    invoice.ersReference = this.nextErsReference();
    invoice.payerTerminalId = newTerminalId();
    invoice.paidAt = this.clock.now();
    this.payments.set(invoice.ersReference, invoice);
    if (RESERVATION_MODES.has(invoice.paymentMode)) {
      invoice.reserved = { ...invoice.amount };
      this.setStatus(invoice, 'RESERVED');
      const seconds = Number(invoice.invoice.commitReservationTimeout ?? '0');
      const ms =
        Number.isFinite(seconds) && seconds > 0
          ? seconds * 1000
          : (this.options.reservationTimeoutMs ?? 0);
      if (ms > 0)
        invoice.timer = this.later(() => {
          this.expire(invoice);
        }, ms);
      this.notify(invoice, 'RESERVED');
      return;
    }
    this.setStatus(invoice, 'PAID');
    invoice.timer = this.later(() => {
      this.reverse(invoice);
    }, this.options.reversalMs);
    this.notify(invoice, 'PAID');
  }

  /** SEQR's notificationUrl POST, when the invoice has one (API.md §9.8). */
  private notify(invoice: InvoiceRecord, status: PayerOutcome['status']): void {
    const url = invoice.invoice.notificationUrl;
    if (url === undefined || this.options.onPayerOutcome === undefined) return;
    const clientInvoiceId = invoice.invoice.clientInvoiceId;
    this.options.onPayerOutcome({
      url,
      invoiceReference: invoice.reference,
      ...(clientInvoiceId === undefined ? {} : { clientInvoiceId }),
      status,
    });
  }

  private later(fn: () => void, ms: number): TimerHandle {
    return this.clock.setTimeout(() => {
      if (!this.closed) fn();
    }, ms);
  }

  private reverse(invoice: InvoiceRecord): void {
    delete invoice.timer;
    if (invoice.status !== 'PAID' || invoice.committed) return;
    invoice.reversed = true;
    this.setStatus(invoice, 'CANCELED');
  }

  private expire(invoice: InvoiceRecord): void {
    delete invoice.timer;
    if (invoice.status === 'RESERVED') this.setStatus(invoice, 'EXPIRED');
  }

  cancelInApp(ref: string): void {
    const invoice = this.record(ref);
    if (!OPEN.has(invoice.status) && invoice.status !== 'RESERVED')
      throw this.conflict(invoice, 'cancel in the app');
    invoice.inProgress = false;
    this.clearTimer(invoice);
    this.setStatus(invoice, 'CANCELED');
    // The UPS flow is told of a cancelled reservation too; a plain payment only of PAID.
    if (RESERVATION_MODES.has(invoice.paymentMode)) this.notify(invoice, 'CANCELED');
  }

  fail(ref: string): void {
    const invoice = this.record(ref);
    if (!OPEN.has(invoice.status) && invoice.status !== 'RESERVED')
      throw this.conflict(invoice, 'fail');
    invoice.inProgress = false;
    this.clearTimer(invoice);
    this.setStatus(invoice, 'FAILED');
  }

  /**
   * What SEQR checks of a createPurchase answer before it shows the reservation to the payer
   * (UPS, API.md §9.6): the invoice exists, belongs to a terminal of `reseller`, waits for the
   * payer, reserves (a reservation payment mode), and asks no more than the payer's maximum, in
   * its currency. Returns why not, or undefined when it may be shown.
   */
  reservationProblem(ref: string, reseller: Reseller, maximum: Amount): string | undefined {
    const invoice = this.invoices.get(ref);
    if (!invoice || invoice.resellerKey !== resellerKey(reseller.id, reseller.userId))
      return `no invoice ${ref} of merchant ${reseller.id}`;
    if (!RESERVATION_MODES.has(invoice.paymentMode))
      return `invoice ${ref} is ${invoice.paymentMode}, not a reservation`;
    if (invoice.status !== 'ISSUED') return `invoice ${ref} is ${invoice.status}, not ISSUED`;
    if (invoice.amount.currency !== maximum.currency)
      return `invoice ${ref} is in ${invoice.amount.currency}, the payer offered ${maximum.currency}`;
    if ((parseAmount(invoice.amount.value) ?? 0n) > (parseAmount(maximum.value) ?? 0n))
      return `invoice ${ref} asks ${invoice.amount.value}, more than the ${maximum.value} offered`;
    return undefined;
  }

  // ---- views ---------------------------------------------------------------------------------

  snapshot(ref: string): InvoiceSnapshot | undefined {
    const invoice = this.invoices.get(ref);
    return invoice ? toSnapshot(invoice) : undefined;
  }

  snapshots(): InvoiceSnapshot[] {
    return [...this.invoices.values()].map(toSnapshot);
  }

  active(terminalId: string): InvoiceSnapshot | undefined {
    let found: InvoiceRecord | undefined;
    for (const invoice of this.invoices.values())
      if (invoice.terminalId === terminalId && OPEN.has(invoice.status)) found = invoice;
    return found ? toSnapshot(found) : undefined;
  }
}

function xmlText(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function toSnapshot(invoice: InvoiceRecord): InvoiceSnapshot {
  return {
    reference: invoice.reference,
    terminalId: invoice.terminalId,
    status: invoice.status,
    version: invoice.version,
    amount: { ...invoice.amount },
    ...(invoice.invoice.clientInvoiceId === undefined
      ? {}
      : { clientInvoiceId: invoice.invoice.clientInvoiceId }),
    committed: invoice.committed,
    reversed: invoice.reversed,
    ...(invoice.ersReference === undefined ? {} : { ersReference: invoice.ersReference }),
    refunds: invoice.refunds.map((r) => ({ ersReference: r.ersReference, value: r.value })),
    polls: invoice.polls,
    ...(invoice.paidAt === undefined ? {} : { paidAt: invoice.paidAt }),
    history: invoice.history.map((h) => ({ ...h })),
    receipts: invoice.receipts,
    paymentMode: invoice.paymentMode,
    acknowledgmentMode: invoice.acknowledgmentMode,
    ...(invoice.invoice.title === undefined ? {} : { title: invoice.invoice.title }),
    ...(invoice.reserved === undefined ? {} : { reserved: { ...invoice.reserved } }),
    ...(invoice.invoice.notificationUrl === undefined
      ? {}
      : { notificationUrl: invoice.invoice.notificationUrl }),
    ...(invoice.invoice.invoiceRows === undefined
      ? {}
      : {
          rows: invoice.invoice.invoiceRows.map((row) => ({
            ...(row.itemDescription === undefined ? {} : { description: row.itemDescription }),
            ...(row.itemQuantity === undefined ? {} : { quantity: row.itemQuantity }),
            ...(row.itemTotalAmount === undefined ? {} : { total: row.itemTotalAmount.value }),
          })),
        }),
  };
}
