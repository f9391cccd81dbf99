import { VendError, type ErrorCode } from '../errors.js';
import type { CancelOutcome, PaymentGateway } from '../ports/payment-gateway.js';
import { SeqrResultError, type SeqrOperation } from './call-errors.js';

/** The gateway methods, as named on the port. */
export type GatewayMethod = keyof PaymentGateway;

/** The SEQR operation behind each gateway method. */
export const OPERATION_OF: Readonly<Record<GatewayMethod, SeqrOperation>> = {
  issueInvoice: 'sendInvoice',
  getStatus: 'getPaymentStatus',
  cancelInvoice: 'cancelInvoice',
  submitReceipt: 'submitPaymentReceipt',
  refund: 'refundPayment',
  updateInvoice: 'updateInvoice',
  commitReservation: 'commitReservation',
};

/**
 * refundPayment answers after which sending the same refund again cannot help (API.md §7.7, §8):
 * 11 REJECTED_AMOUNT, 23 INVALID_ERS_REFERENCE (no such payment), 64, 97
 * RESELLER_NOT_ALLOWED_TO_DO_REFUND, 99 RECEIVER_ACCOUNT_DOES_NOT_ALLOW_REFUNDS.
 */
export const REFUND_REFUSED_RESULTS: ReadonlySet<number> = new Set([11, 23, 64, 97, 99]);

/** 98: the sum of refunds would exceed the original payment. */
export const REFUND_EXCEEDS_PAYMENT_RESULT = 98;

/** cancelInvoice result codes that are outcomes, not failures (API.md §7.4). */
export const CANCEL_OUTCOMES: ReadonlyMap<number, CancelOutcome> = new Map([
  [95, 'alreadyCancelled'],
  [50, 'paid'],
  [51, 'inProgress'],
  [48, 'inProgress'],
]);

/** 54 INVALID_INVOICE_REFERENCE: the invoice is unknown to SEQR for this terminal. */
export const UNKNOWN_INVOICE_RESULT = 54;

/** 96 INVOICE_STATE_NOT_RESERVED: commitReservation of an invoice that is not RESERVED. */
export const NOT_RESERVED_RESULT = 96;

/**
 * What a SEQR resultCode means for the caller of `method`, when it means more than "SEQR said
 * no" (`E_SEQR_RESULT`): the one table from wire codes to domain outcomes. Also used to read
 * ledger entries written before failures were typed.
 */
export function domainCode(method: GatewayMethod, resultCode: number): ErrorCode | undefined {
  switch (method) {
    case 'getStatus':
    case 'cancelInvoice':
    case 'updateInvoice':
      return resultCode === UNKNOWN_INVOICE_RESULT ? 'E_SEQR_UNKNOWN_INVOICE' : undefined;
    case 'commitReservation':
      if (resultCode === NOT_RESERVED_RESULT) return 'E_RESERVATION_NOT_RESERVED';
      return resultCode === UNKNOWN_INVOICE_RESULT ? 'E_SEQR_UNKNOWN_INVOICE' : undefined;
    case 'refund':
      if (resultCode === REFUND_EXCEEDS_PAYMENT_RESULT) return 'E_REFUND_EXCEEDS_PAYMENT';
      return REFUND_REFUSED_RESULTS.has(resultCode) ? 'E_REFUND_REFUSED' : undefined;
    case 'issueInvoice':
    case 'submitReceipt':
      return undefined;
  }
}

/** A SEQR answer translated into its domain outcome; keeps SEQR's code and name for the log. */
export class SeqrOutcomeError extends VendError {
  readonly operation: SeqrOperation;
  readonly resultCode: number;
  readonly resultName: string;

  constructor(code: ErrorCode, answer: SeqrResultError) {
    super(code, answer.message, { cause: answer, retryable: false });
    this.name = 'SeqrOutcomeError';
    this.operation = answer.operation;
    this.resultCode = answer.resultCode;
    this.resultName = answer.resultName;
  }
}

/** `err` as the port promises it: a SEQR answer with a domain meaning becomes that code. */
export function toDomainError(method: GatewayMethod, err: unknown): unknown {
  if (!(err instanceof SeqrResultError)) return err;
  const code = domainCode(method, err.resultCode);
  return code === undefined ? err : new SeqrOutcomeError(code, err);
}
