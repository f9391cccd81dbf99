// "SEQR did it, but the answer was lost": every state-changing call takes effect in the
// simulator's records while the client sees only a transport or malformed error. Also the
// random share of injected faults that the fault soak uses.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SeqrClient } from '../../daemon/seqr/client.js';
import { startSimulator, type Fault, type SeqrSimulator } from '../../simulator/index.js';

let sim: SeqrSimulator;
let client: SeqrClient;

beforeEach(async () => {
  sim = await startSimulator({ missingAckMode: 'NO_ACKNOWLEDGMENT' });
  client = await SeqrClient.create({
    endpoint: sim.soapUrl,
    terminal: sim.terminal,
    reseller: sim.reseller,
    deadlineMs: 8_000,
  });
});
afterEach(async () => {
  client.close();
  await sim.close();
});

const SEK = (minor: number) => ({ minor, currency: 'SEK' });
const send = () =>
  client.sendInvoice({ totalAmount: SEK(2500), acknowledgmentMode: 'NO_ACKNOWLEDGMENT' });

/** An invoice the customer paid and a poll committed: what refunds and receipts need. */
async function sale(): Promise<{ ref: string; ers: string }> {
  const { invoiceReference: ref } = await send();
  sim.control.pay(ref);
  const status = await client.getPaymentStatus(ref, 0);
  if (status.ersReference === undefined) throw new Error('no ersReference');
  return { ref, ers: status.ersReference };
}

const lastCall = () => sim.control.calls().at(-1);

for (const answer of ['reset', 'garbled'] as const) {
  const lost: Fault = { kind: 'answerLost', answer };
  const seen = answer === 'reset' ? 'E_SEQR_UNREACHABLE' : 'E_SEQR_MALFORMED';

  describe(`answer lost (${answer}): the call took effect, the client saw ${seen}`, () => {
    it('sendInvoice: the invoice exists at SEQR, open, unknown to the terminal', async () => {
      sim.control.injectFault('sendInvoice', lost, { times: 1 });
      await expect(send()).rejects.toMatchObject({ code: seen, operation: 'sendInvoice' });
      const [invoice] = sim.control.invoices();
      expect(invoice).toMatchObject({ status: 'ISSUED' });
      expect(sim.control.activeInvoice()?.reference).toBe(invoice?.reference);
      expect(lastCall()).toMatchObject({
        op: 'sendInvoice',
        fault: 'answerLost',
        resultCode: 0,
        reference: invoice?.reference,
      });
    });

    it('getPaymentStatus: the PAID answer committed the payment, then was lost; the next poll sees PAID', async () => {
      const { invoiceReference: ref } = await send();
      sim.control.injectFault('getPaymentStatus', { ...lost, onlyPaid: true }, { times: 1 });
      // Not paid yet: the fault waits for the answer that reports PAID, and does not count.
      await expect(client.getPaymentStatus(ref, 0)).resolves.toMatchObject({ status: 'ISSUED' });
      sim.control.pay(ref);
      await expect(client.getPaymentStatus(ref, 1)).rejects.toMatchObject({ code: seen });
      expect(sim.control.invoice(ref)).toMatchObject({ status: 'PAID', committed: true });
      expect(lastCall()).toMatchObject({
        op: 'getPaymentStatus',
        fault: 'answerLost',
        reference: ref,
      });
      await expect(client.getPaymentStatus(ref, 1)).resolves.toMatchObject({ status: 'PAID' });
    });

    it('cancelInvoice: the invoice is cancelled; a retry answers 95 (already cancelled)', async () => {
      const { invoiceReference: ref } = await send();
      sim.control.injectFault('cancelInvoice', lost, { times: 1 });
      await expect(client.cancelInvoice(ref)).rejects.toMatchObject({ code: seen });
      expect(sim.control.invoice(ref)?.status).toBe('CANCELED');
      await expect(client.cancelInvoice(ref)).rejects.toMatchObject({ resultCode: 95 });
    });

    it('refundPayment: the refund is made; a retry of the full amount answers 98', async () => {
      const { ref, ers } = await sale();
      sim.control.injectFault('refundPayment', lost, { times: 1 });
      const refund = () => client.refundPayment(ers, { totalAmount: SEK(2500) });
      await expect(refund()).rejects.toMatchObject({ code: seen, operation: 'refundPayment' });
      expect(sim.control.invoice(ref)?.refunds).toEqual([
        { ersReference: expect.any(String) as string, value: '25.00' },
      ]);
      await expect(refund()).rejects.toMatchObject({ resultCode: 98 });
    });

    it('submitPaymentReceipt: SEQR has the receipt', async () => {
      const { ref, ers } = await sale();
      sim.control.injectFault('submitPaymentReceipt', lost, { times: 1 });
      await expect(
        client.submitPaymentReceipt(ers, {
          mimeType: 'text/plain',
          receiptData: Buffer.from('Cola 25.00').toString('base64'),
          receiptType: 'PAYMENT_RECEIPT',
        }),
      ).rejects.toMatchObject({ code: seen });
      expect(sim.control.invoice(ref)?.receipts).toBe(1);
    });

    it('markTransactionPeriod: the period is closed; the next one starts after it', async () => {
      await sale();
      sim.control.injectFault('markTransactionPeriod', lost, { times: 1 });
      await expect(client.markTransactionPeriod()).rejects.toMatchObject({ code: seen });
      expect(lastCall()).toMatchObject({ op: 'markTransactionPeriod', resultCode: 0 });
      // The sale went into the period whose id was lost: the next period has none.
      const { transactionPeriodId } = await client.markTransactionPeriod();
      const read = () =>
        client.executeReport({
          reportId: 'Reconciliation/Shop.xml',
          parameters: { transactionPeriodId },
        });
      await expect(read()).rejects.toMatchObject({ resultCode: 2 });
      expect((await read()).contentString).toContain('<SalesCount>0</SalesCount>');
    });
  });
}

describe('injected faults with a share', () => {
  it('applies to the drawn share of calls; the others go on to the next fault or none', async () => {
    await sim.close();
    // Draws: 0.5 (>= 0.3: no), 0.1 (< 0.3: yes), 0.9 (no), ...
    const draws = [0.5, 0.1, 0.9, 0.2];
    sim = await startSimulator({ random: () => draws.shift() ?? 0.99 });
    client.close();
    client = await SeqrClient.create({ endpoint: sim.soapUrl, deadlineMs: 8_000 });
    sim.control.injectFault('benchmarkingNop', { kind: 'result', resultCode: 93 }, { share: 0.3 });
    sim.control.injectFault('*', { kind: 'result', resultCode: 94 }, { times: 1 });
    const codes: (number | undefined)[] = [];
    for (let i = 0; i < 4; i++)
      codes.push(
        await client.benchmarkingNop().then(
          () => 0,
          (err: unknown) => (err as { resultCode?: number }).resultCode,
        ),
      );
    expect(codes).toEqual([94, 93, 0, 93]);
  });

  it('refuses a share outside (0, 1] and a bad answerLost', () => {
    const hang: Fault = { kind: 'hang' };
    expect(() => {
      sim.control.injectFault('*', hang, { share: 0 });
    }).toThrow(/share/);
    expect(() => {
      sim.control.injectFault('*', hang, { share: 1.5 });
    }).toThrow(/share/);
    expect(() => {
      sim.control.injectFault('*', { kind: 'answerLost', answer: 'lost' } as unknown as Fault);
    }).toThrow(/fault.answer/);
  });

  it('takes answerLost and share over the control API', async () => {
    const post = (body: unknown) =>
      fetch(`${sim.controlUrl}/faults`, { method: 'POST', body: JSON.stringify(body) });
    const ok = await post({
      op: 'cancelInvoice',
      fault: { kind: 'answerLost', answer: 'garbled' },
      times: 1,
      share: 1,
    });
    expect(ok.status).toBe(200);
    const { invoiceReference: ref } = await send();
    await expect(client.cancelInvoice(ref)).rejects.toMatchObject({ code: 'E_SEQR_MALFORMED' });
    expect(sim.control.invoice(ref)?.status).toBe('CANCELED');
    const bad = await post({ op: 'cancelInvoice', fault: { kind: 'hang' }, share: 'half' });
    expect([bad.status, await bad.json()]).toEqual([400, { error: 'share must be a number' }]);
  });
});
