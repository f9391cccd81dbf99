import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { failureOf, VendError } from '../../daemon/errors.js';
import {
  invoiceQrPayload,
  type InvoiceRequest,
  type PaymentGateway,
  type RefundRequest,
} from '../../daemon/ports/payment-gateway.js';
import type { GatewayMethod } from '../../daemon/seqr/domain-codes.js';

/** A PaymentGateway plus SEQR's other side: the customer's app and injected answers. */
export interface GatewayRig {
  readonly gateway: PaymentGateway;
  /** The payer is entering the PIN (cancelInvoice answers "in progress"). */
  startPaying(reference: string): void;
  /** The payer confirmed: PAID, committed by the next status poll. */
  pay(reference: string): void;
  cancelInApp(reference: string): void;
  /** SEQR answers the next call of `method` with `resultCode`, doing nothing else. */
  answerNext(method: GatewayMethod, resultCode: number): void;
  /** The next call of `method` fails in transport (an HTTP 503 from a proxy): outcome unknown. */
  failTransportNext(method: GatewayMethod): void;
  dispose(): Promise<void>;
}

const cola: InvoiceRequest = {
  clientInvoiceId: 'tx-contract',
  title: 'Corner Cafe',
  itemDescription: 'Cola 33 cl',
  price: { minor: 2500, currency: 'SEK' },
  taxRatePercent: 12,
  cashierId: 'machine-1',
};

async function rejection(p: Promise<unknown>): Promise<VendError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(VendError);
    return err as VendError;
  }
  throw new Error('expected a rejection');
}

/**
 * The PaymentGateway contract (daemon/ports/payment-gateway.ts): SEQR's rules in domain words,
 * the same for the SOAP gateway on the simulator and for the fake. One active invoice per
 * terminal, commit by polling, cancel outcomes 0/95/50/51/48, refunds bounded by the payment;
 * SEQR's wire codes arrive as domain failures (54 -> E_SEQR_UNKNOWN_INVOICE; 11, 23, 64, 97, 99 ->
 * E_REFUND_REFUSED; 98 -> E_REFUND_EXCEEDS_PAYMENT), every failure carrying the SEQR operation and,
 * for an answer, its resultCode and resultName.
 */
export function describePaymentGatewayContract(
  name: string,
  makeRig: () => Promise<GatewayRig>,
): void {
  describe(`PaymentGateway contract: ${name}`, () => {
    let rig: GatewayRig;
    let gw: PaymentGateway;
    beforeEach(async () => {
      rig = await makeRig();
      gw = rig.gateway;
    });
    afterEach(async () => {
      await rig.dispose();
    });

    async function paid(): Promise<{ reference: string; ersReference: string }> {
      const { reference } = await gw.issueInvoice(cola);
      rig.pay(reference);
      const status = await gw.getStatus(reference, 0);
      expect(status.status).toBe('PAID');
      return { reference, ersReference: status.ersReference! };
    }

    const refund = (ersReference: string, minor = 2500): RefundRequest => ({
      ersReference,
      amount: { minor, currency: 'SEK' },
      title: 'Refund: Cola 33 cl (not delivered)',
      cashierId: 'machine-1',
    });

    it('issueInvoice: a reference, and the QR payload in its one format', async () => {
      const invoice = await gw.issueInvoice(cola);
      expect(invoice.reference).toMatch(/^\d+$/);
      expect(invoice.qrPayload).toBe(invoiceQrPayload(invoice.reference));
      expect(invoice.qrPayload).toBe(`HTTP://SEQR.SE/R${invoice.reference}`);
    });

    it('getStatus: ISSUED, then PAID with the payment reference and time, versions moving on', async () => {
      const { reference } = await gw.issueInvoice(cola);
      const first = await gw.getStatus(reference, 0);
      expect(first.status).toBe('ISSUED');
      expect(first.ersReference).toBeUndefined();
      rig.pay(reference);
      const second = await gw.getStatus(reference, first.version);
      expect(second.status).toBe('PAID');
      expect(second.version).toBeGreaterThan(first.version);
      expect(second.ersReference).toMatch(/^\d+$/);
      expect(Number.isFinite(Date.parse(second.paidAt ?? ''))).toBe(true);
      // Committed: it stays PAID.
      expect((await gw.getStatus(reference, second.version)).status).toBe('PAID');
    });

    it('getStatus / cancelInvoice of an invoice SEQR does not know: E_SEQR_UNKNOWN_INVOICE (54)', async () => {
      for (const [call, operation] of [
        [() => gw.getStatus('99990000000000001', 0), 'getPaymentStatus'],
        [() => gw.cancelInvoice('99990000000000001'), 'cancelInvoice'],
      ] as const) {
        const err = await rejection(call());
        expect(err).toMatchObject({ code: 'E_SEQR_UNKNOWN_INVOICE', retryable: false });
        expect(failureOf(err)).toMatchObject({
          code: 'E_SEQR_UNKNOWN_INVOICE',
          resultCode: 54,
          resultName: 'INVALID_INVOICE_REFERENCE',
          operation,
        });
      }
    });

    it('cancelInvoice: cancelled, confirmed CANCELED by a poll, then already cancelled', async () => {
      const { reference } = await gw.issueInvoice(cola);
      expect(await gw.cancelInvoice(reference)).toBe('cancelled');
      expect((await gw.getStatus(reference, 0)).status).toBe('CANCELED');
      expect(await gw.cancelInvoice(reference)).toBe('alreadyCancelled');
    });

    it('cancelInvoice: in progress while the payer is paying (51, 48), paid once they paid (50)', async () => {
      const { reference } = await gw.issueInvoice(cola);
      rig.startPaying(reference);
      expect(await gw.cancelInvoice(reference)).toBe('inProgress');
      rig.pay(reference);
      expect(await gw.cancelInvoice(reference)).toBe('paid');
      expect((await gw.getStatus(reference, 0)).status).toBe('PAID');
      rig.answerNext('cancelInvoice', 48);
      expect(await gw.cancelInvoice(reference)).toBe('inProgress');
    });

    it('one active invoice per terminal: a new invoice cancels the previous unpaid one', async () => {
      const first = await gw.issueInvoice(cola);
      const second = await gw.issueInvoice({ ...cola, clientInvoiceId: 'tx-2' });
      expect((await gw.getStatus(first.reference, 0)).status).toBe('CANCELED');
      expect((await gw.getStatus(second.reference, 0)).status).toBe('ISSUED');
    });

    it('cancelled in the app: CANCELED', async () => {
      const { reference } = await gw.issueInvoice(cola);
      rig.cancelInApp(reference);
      expect((await gw.getStatus(reference, 0)).status).toBe('CANCELED');
    });

    it('refund: a reference; refunds beyond the payment are E_REFUND_EXCEEDS_PAYMENT (98)', async () => {
      const { ersReference } = await paid();
      const part = await gw.refund(refund(ersReference, 1000));
      expect(part.refundReference).toMatch(/^\d+$/);
      const over = await rejection(gw.refund(refund(ersReference, 1501)));
      expect(over).toMatchObject({ code: 'E_REFUND_EXCEEDS_PAYMENT', retryable: false });
      expect(failureOf(over)).toMatchObject({ resultCode: 98, operation: 'refundPayment' });
      await gw.refund(refund(ersReference, 1500));
      expect(await rejection(gw.refund(refund(ersReference, 1)))).toMatchObject({
        code: 'E_REFUND_EXCEEDS_PAYMENT',
      });
    });

    it('refund of a payment SEQR does not know: E_REFUND_REFUSED (23)', async () => {
      const err = await rejection(gw.refund(refund('2099010100000000000000000')));
      expect(err).toMatchObject({ code: 'E_REFUND_REFUSED', retryable: false });
      expect(failureOf(err)).toMatchObject({
        resultCode: 23,
        resultName: 'INVALID_ERS_REFERENCE',
        operation: 'refundPayment',
      });
    });

    it.each([
      [97, 'RESELLER_NOT_ALLOWED_TO_DO_REFUND'],
      [99, 'RECEIVER_ACCOUNT_DOES_NOT_ALLOW_REFUNDS'],
      [11, 'REJECTED_AMOUNT'],
    ])(
      'refund refused for good (%i): E_REFUND_REFUSED, nothing refunded',
      async (resultCode, resultName) => {
        const { ersReference } = await paid();
        rig.answerNext('refund', resultCode);
        const err = await rejection(gw.refund(refund(ersReference)));
        expect(err).toMatchObject({ code: 'E_REFUND_REFUSED', retryable: false });
        expect(failureOf(err)).toEqual({
          code: 'E_REFUND_REFUSED',
          resultCode,
          resultName,
          operation: 'refundPayment',
        });
        // Nothing was refunded: the full amount still can be.
        await gw.refund(refund(ersReference));
      },
    );

    it('SEQR busy (93): E_SEQR_RESULT, retryable, nothing refunded', async () => {
      const { ersReference } = await paid();
      rig.answerNext('refund', 93);
      const err = await rejection(gw.refund(refund(ersReference)));
      expect(err).toMatchObject({ code: 'E_SEQR_RESULT', retryable: true });
      expect(failureOf(err)).toMatchObject({ resultCode: 93, resultName: 'SYSTEM_BUSY' });
      await gw.refund(refund(ersReference));
    });

    it('credentials refused (20): E_SEQR_AUTH on any call', async () => {
      rig.answerNext('getStatus', 20);
      const err = await rejection(gw.getStatus('1', 0));
      expect(err).toMatchObject({ code: 'E_SEQR_AUTH' });
      expect(failureOf(err)).toMatchObject({ resultCode: 20, operation: 'getPaymentStatus' });
    });

    it('a transport failure: a retryable code of unknown outcome, with the operation', async () => {
      const { ersReference } = await paid();
      rig.failTransportNext('refund');
      const err = await rejection(gw.refund(refund(ersReference)));
      expect(err.retryable).toBe(true);
      expect([
        'E_SEQR_UNREACHABLE',
        'E_SEQR_TIMEOUT',
        'E_SEQR_HTTP',
        'E_SEQR_FAULT',
        'E_SEQR_MALFORMED',
      ]).toContain(err.code);
      expect(failureOf(err)).toMatchObject({ operation: 'refundPayment' });
      expect(failureOf(err).resultCode).toBeUndefined();
    });

    const upTo: InvoiceRequest = {
      ...cola,
      clientInvoiceId: 'tx-reservation',
      itemDescription: 'Pay first, then choose',
      price: { minor: 10000, currency: 'SEK' },
      reservation: { commitTimeoutS: 600 },
    };

    async function reserved(): Promise<string> {
      const { reference } = await gw.issueInvoice(upTo);
      expect((await gw.getStatus(reference, 0)).status).toBe('ISSUED');
      rig.pay(reference);
      expect((await gw.getStatus(reference, 0)).status).toBe('RESERVED');
      return reference;
    }

    it('reservation: RESERVED once the payer confirms; the final rows, then a commit of exactly their total: PAID', async () => {
      const reference = await reserved();
      const unitPrice = { minor: 2500, currency: 'SEK' };
      await gw.updateInvoice(reference, {
        invoice: upTo,
        rows: [{ description: 'Cola 33 cl', quantity: 2, unitPrice, taxRatePercent: 12 }],
        total: { minor: 5000, currency: 'SEK' },
      });
      await gw.commitReservation(reference, { minor: 5000, currency: 'SEK' });
      const status = await gw.getStatus(reference, 0);
      expect(status.status).toBe('PAID');
      expect(status.ersReference).toMatch(/^\d+$/);
      // Committed once: a second commit is 96, and the payment refunds at most what was committed.
      const again = await rejection(
        gw.commitReservation(reference, { minor: 5000, currency: 'SEK' }),
      );
      expect(again).toMatchObject({ code: 'E_RESERVATION_NOT_RESERVED', retryable: false });
      expect(failureOf(again)).toMatchObject({ resultCode: 96, operation: 'commitReservation' });
      const over = await rejection(gw.refund(refund(status.ersReference!, 5001)));
      expect(over).toMatchObject({ code: 'E_REFUND_EXCEEDS_PAYMENT' });
    });

    it('reservation: a commit above the reserved amount is refused (11) and leaves it RESERVED', async () => {
      const reference = await reserved();
      const err = await rejection(
        gw.commitReservation(reference, { minor: 10001, currency: 'SEK' }),
      );
      expect(err).toMatchObject({ code: 'E_SEQR_RESULT' });
      expect(failureOf(err)).toMatchObject({ resultCode: 11, operation: 'commitReservation' });
      expect((await gw.getStatus(reference, 0)).status).toBe('RESERVED');
    });

    it('reservation: not RESERVED (unconfirmed, or cancelled) cannot be committed (96)', async () => {
      const { reference } = await gw.issueInvoice(upTo);
      const early = await rejection(
        gw.commitReservation(reference, { minor: 100, currency: 'SEK' }),
      );
      expect(early).toMatchObject({ code: 'E_RESERVATION_NOT_RESERVED' });
      rig.pay(reference);
      expect(await gw.cancelInvoice(reference)).toBe('cancelled');
      expect((await gw.getStatus(reference, 0)).status).toBe('CANCELED');
      const late = await rejection(
        gw.commitReservation(reference, { minor: 100, currency: 'SEK' }),
      );
      expect(late).toMatchObject({ code: 'E_RESERVATION_NOT_RESERVED' });
    });

    it('updateInvoice / commitReservation of an invoice SEQR does not know: E_SEQR_UNKNOWN_INVOICE (54)', async () => {
      const content = { invoice: upTo, rows: [], total: { minor: 0, currency: 'SEK' } };
      expect(await rejection(gw.updateInvoice('999999999', content))).toMatchObject({
        code: 'E_SEQR_UNKNOWN_INVOICE',
      });
      expect(
        await rejection(gw.commitReservation('999999999', { minor: 100, currency: 'SEK' })),
      ).toMatchObject({ code: 'E_SEQR_UNKNOWN_INVOICE' });
    });

    it('submitReceipt: accepted for a paid invoice', async () => {
      const { ersReference } = await paid();
      await gw.submitReceipt(ersReference, {
        mimeType: 'text/plain',
        text: 'Cola 33 cl 25.00 SEK\nSEQR payment',
        receiptType: 'PAYMENT_RECEIPT',
      });
    });
  });
}
