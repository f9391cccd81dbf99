import { systemClock, type Clock } from '../ports/clock.js';
import {
  invoiceQrPayload,
  type CancelOutcome,
  type InvoiceRequest,
  type IssuedInvoice,
  type PaymentGateway,
  type PaymentStatus,
  type ReceiptDocument,
  type RefundRequest,
  type ReservationContent,
} from '../ports/payment-gateway.js';
import type { Money } from '../ports/money.js';
import { SeqrResultError } from './call-errors.js';
import type { SeqrCallOptions, SeqrClient } from './client.js';
import type { SeqrInvoice, SeqrInvoiceRow } from './wire.js';
import { CANCEL_OUTCOMES, toDomainError, type GatewayMethod } from './domain-codes.js';

/** Hard deadlines per gateway method in ms; a missing entry uses the client's default. */
export type GatewayDeadlines = Partial<Record<GatewayMethod, number>>;

export interface SeqrPaymentGatewayOptions {
  /** Source of `issueDate`. Default: the system clock. */
  readonly clock?: Clock;
  readonly deadlines?: GatewayDeadlines;
}

/** Rethrows a failed call's error as the port promises it (daemon/seqr/domain-codes.ts). */
const domain =
  (method: GatewayMethod) =>
  (err: unknown): never => {
    throw toDomainError(method, err);
  };

/**
 * {@link PaymentGateway} over the SEQR SOAP client: the only SEQR the vending core knows.
 * Invoices are immediate debit without acknowledgment (no loyalty step), one row of quantity one;
 * a reservation is RESERVATION_REQUIRED_PRELIMINARY_AMOUNT with its commit timeout, and its final
 * rows go out with updateInvoice before commitReservation carries the final amount.
 * Errors are the client's (see {@link SeqrClient}), the resultCodes with a domain meaning mapped
 * to it (none for sendInvoice and submitPaymentReceipt); nothing here retries.
 */
export class SeqrPaymentGateway implements PaymentGateway {
  readonly #client: SeqrClient;
  readonly #clock: Clock;
  readonly #deadlines: GatewayDeadlines;

  constructor(client: SeqrClient, options: SeqrPaymentGatewayOptions = {}) {
    this.#client = client;
    this.#clock = options.clock ?? systemClock;
    this.#deadlines = options.deadlines ?? {};
  }

  async issueInvoice(request: InvoiceRequest): Promise<IssuedInvoice> {
    const { invoiceReference } = await this.#client.sendInvoice(
      this.#invoice(request, [
        {
          itemDescription: request.itemDescription,
          itemQuantity: 1,
          ...(request.taxRatePercent === undefined ? {} : { itemTaxRate: request.taxRatePercent }),
          itemTotalAmount: request.price,
          itemUnitPrice: request.price,
        },
      ]),
      [],
      this.#options('issueInvoice'),
    );
    return { reference: invoiceReference, qrPayload: invoiceQrPayload(invoiceReference) };
  }

  async updateInvoice(reference: string, content: ReservationContent): Promise<void> {
    const rows: SeqrInvoiceRow[] = content.rows.map((row) => ({
      itemDescription: row.description,
      itemQuantity: row.quantity,
      ...(row.taxRatePercent === undefined ? {} : { itemTaxRate: row.taxRatePercent }),
      itemUnitPrice: row.unitPrice,
      itemTotalAmount: {
        minor: row.unitPrice.minor * row.quantity,
        currency: row.unitPrice.currency,
      },
    }));
    await this.#client
      .updateInvoice(
        reference,
        { ...this.#invoice(content.invoice, rows), totalAmount: content.total },
        [],
        this.#options('updateInvoice'),
      )
      .catch(domain('updateInvoice'));
  }

  async commitReservation(reference: string, amount: Money): Promise<void> {
    await this.#client
      .commitReservation(reference, amount, this.#options('commitReservation'))
      .catch(domain('commitReservation'));
  }

  /** The invoice of a request, with `rows`; its total is the request's price. */
  #invoice(request: InvoiceRequest, rows: readonly SeqrInvoiceRow[]): SeqrInvoice {
    return {
      paymentMode: request.reservation
        ? 'RESERVATION_REQUIRED_PRELIMINARY_AMOUNT'
        : 'IMMEDIATE_DEBIT',
      acknowledgmentMode: 'NO_ACKNOWLEDGMENT',
      issueDate: new Date(this.#clock.now()).toISOString(),
      title: request.title,
      clientInvoiceId: request.clientInvoiceId,
      rows,
      totalAmount: request.price,
      cashierId: request.cashierId,
      ...(request.footer === undefined ? {} : { footer: request.footer }),
      ...(request.notificationUrl === undefined
        ? {}
        : { notificationUrl: request.notificationUrl }),
      ...(request.reservation === undefined
        ? {}
        : { commitReservationTimeout: request.reservation.commitTimeoutS }),
    };
  }

  async getStatus(reference: string, lastVersion: number): Promise<PaymentStatus> {
    const answer = await this.#client
      .getPaymentStatus(reference, lastVersion, this.#options('getStatus'))
      .catch(domain('getStatus'));
    // Both name the payment (API.md §5.7); the top-level one is what refunds are documented with.
    const ersReference = answer.ersReference ?? answer.receipt?.paymentReference;
    const paidAt = answer.receipt?.paymentDate;
    return {
      status: answer.status,
      version: answer.version,
      ...(ersReference === undefined ? {} : { ersReference }),
      ...(paidAt === undefined ? {} : { paidAt }),
    };
  }

  async cancelInvoice(reference: string): Promise<CancelOutcome> {
    try {
      await this.#client.cancelInvoice(reference, this.#options('cancelInvoice'));
      return 'cancelled';
    } catch (err) {
      const outcome =
        err instanceof SeqrResultError ? CANCEL_OUTCOMES.get(err.resultCode) : undefined;
      if (outcome === undefined) throw toDomainError('cancelInvoice', err);
      return outcome;
    }
  }

  async submitReceipt(ersReference: string, document: ReceiptDocument): Promise<void> {
    await this.#client.submitPaymentReceipt(
      ersReference,
      {
        mimeType: document.mimeType,
        receiptData: Buffer.from(document.text, 'utf8').toString('base64'),
        receiptType: document.receiptType,
      },
      this.#options('submitReceipt'),
    );
  }

  async refund(request: RefundRequest): Promise<{ readonly refundReference: string }> {
    const { ersReference } = await this.#client
      .refundPayment(
        request.ersReference,
        {
          issueDate: new Date(this.#clock.now()).toISOString(),
          title: request.title,
          totalAmount: request.amount,
          cashierId: request.cashierId,
        },
        this.#options('refund'),
      )
      .catch(domain('refund'));
    return { refundReference: ersReference };
  }

  #options(method: GatewayMethod): SeqrCallOptions {
    const deadlineMs = this.#deadlines[method];
    return deadlineMs === undefined ? {} : { deadlineMs };
  }
}
