// Issue 14: every SEQR failure line of the journal names the operation, and the HTTP status, the
// fault string or SEQR's result name the failing call brought. The daemon's own logger (redaction,
// secret scrubbing) writes into a collector; the runtime drives the real SOAP client against the
// simulator, which fails each operation in turn; the end-of-day job the same way.
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { reconciliationGateway } from '../../daemon/app.js';
import { closePeriod } from '../../daemon/ledger/end-of-day.js';
import { SqliteLedger } from '../../daemon/ledger/sqlite-ledger.js';
import { SecretSet, createLogger } from '../../daemon/log.js';
import { ManualClock, yieldToLoop } from '../../daemon/runtime/manual-clock.js';
import { SeqrClient } from '../../daemon/seqr/client.js';
import { startSimulator, type Fault, type Operation } from '../../simulator/index.js';
import { tempDir } from '../ledger/helpers.js';
import { startSimHarness, type SimHarness } from '../support/sim-harness.js';

const TERMINAL_PASSWORD = 'Term-Pw-5e1d';
const RESELLER_PASSWORD = 'Resell-Pw-77a2';
const FAULT_STRING = 'Fault occurred while processing.';

/** The journal as the daemon writes it: raw lines, and each parsed. */
function journal() {
  const raw: string[] = [];
  const secrets = new SecretSet();
  secrets.add(TERMINAL_PASSWORD);
  secrets.add(RESELLER_PASSWORD);
  const log = createLogger({
    level: 'debug',
    journald: false,
    secrets,
    destination: {
      write(line: string) {
        raw.push(line);
      },
    },
  });
  const lines = () => raw.map((l) => JSON.parse(l) as Record<string, unknown>);
  return { log, raw, lines };
}

/** A line telling of a failed SEQR call: it names an operation, or carries an E_SEQR_ code. */
const isSeqrFailure = (l: Record<string, unknown>): boolean =>
  l['operation'] !== undefined ||
  [l['code'], l['failure']].some((c) => typeof c === 'string' && c.startsWith('E_SEQR_'));

/** What the line must carry for the fault injected into `op`. */
function expected(op: Operation, fault: Fault): Record<string, unknown> {
  if (fault.kind === 'http') return { operation: op, httpStatus: fault.status };
  if (fault.kind === 'soapFault') return { operation: op, faultString: fault.faultstring };
  if (fault.kind === 'result')
    return {
      operation: op,
      resultCode: fault.resultCode,
      resultName: RESULT_NAMES[fault.resultCode],
    };
  return { operation: op };
}

/** SEQR's names of the result codes injected here (API.md). */
const RESULT_NAMES: Readonly<Record<number, string>> = { 90: 'SYSTEM_ERROR', 93: 'SYSTEM_BUSY' };

/** Every SEQR failure line names its operation, and no line holds a password. */
function expectWellFormed(j: ReturnType<typeof journal>): void {
  for (const line of j.lines().filter(isSeqrFailure))
    expect(typeof line['operation'], JSON.stringify(line)).toBe('string');
  for (const raw of j.raw) {
    expect(raw).not.toContain(TERMINAL_PASSWORD);
    expect(raw).not.toContain(RESELLER_PASSWORD);
  }
}

let h: SimHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe('SEQR failure lines of the selling runtime', () => {
  const cases: readonly { op: Operation; fault: Fault; run: (h: SimHarness) => Promise<void> }[] = [
    {
      op: 'sendInvoice',
      fault: { kind: 'http', status: 503 },
      run: async (x) => {
        await x.pressProduct(1);
        await x.advanceIo(1_000);
      },
    },
    {
      op: 'getPaymentStatus',
      fault: { kind: 'soapFault', faultstring: FAULT_STRING },
      run: async (x) => {
        await x.pressProduct(1);
        await x.advanceIo(3_000);
      },
    },
    {
      op: 'cancelInvoice',
      fault: { kind: 'result', resultCode: 90 },
      run: async (x) => {
        await x.pressProduct(1);
        await x.advanceIo(1_500);
        await x.pressCancel();
        await x.advanceIo(4_000);
      },
    },
    {
      op: 'submitPaymentReceipt',
      fault: { kind: 'result', resultCode: 93 },
      run: async (x) => {
        await x.pressProduct(1);
        await x.advanceIo(1_500);
        x.sim.control.pay(x.activeRef());
        await x.advanceIo(6_000);
      },
    },
    {
      op: 'refundPayment',
      fault: { kind: 'http', status: 502 },
      run: async (x) => {
        x.dispenser.nextResult(1, { outcome: 'notDelivered', reason: 'slotFault' });
        await x.pressProduct(1);
        await x.advanceIo(1_500);
        x.sim.control.pay(x.activeRef());
        await x.advanceIo(6_000);
      },
    },
  ];

  it.each(cases)('$op failing ($fault.kind)', async ({ op, fault, run }) => {
    const j = journal();
    h = await startSimHarness({ log: j.log });
    h.sim.control.injectFault(op, fault, { times: 1 });
    await run(h);
    const lines = j.lines().filter((l) => l['operation'] === op);
    expect(lines.length, `no journal line names ${op}`).toBeGreaterThan(0);
    for (const line of lines) expect(line).toMatchObject(expected(op, fault));
    expectWellFormed(j);
  });

  it('the out-of-service probe tells what still fails', async () => {
    const j = journal();
    h = await startSimHarness({ log: j.log });
    h.sim.control.injectFault('sendInvoice', { kind: 'http', status: 503 });
    await h.pressProduct(1);
    await h.advanceIo(20_000, 500);
    const probe = j.lines().filter((l) => String(l['msg']).startsWith('out-of-service probe'));
    expect(probe.length).toBeGreaterThan(0);
    for (const line of probe)
      expect(line).toMatchObject({ operation: 'sendInvoice', httpStatus: 503 });
    expectWellFormed(j);
  });
});

describe('SEQR failure lines of the end-of-day job', () => {
  it.each([
    { op: 'executeReport' as const, fault: { kind: 'http', status: 503 } as Fault },
    { op: 'executeReport' as const, fault: { kind: 'result', resultCode: 90 } as Fault },
    { op: 'markTransactionPeriod' as const, fault: { kind: 'http', status: 503 } as Fault },
    {
      op: 'markTransactionPeriod' as const,
      fault: { kind: 'soapFault', faultstring: FAULT_STRING } as Fault,
    },
  ])('$op failing ($fault.kind)', async ({ op, fault }) => {
    const clock = new ManualClock(Date.UTC(2026, 10, 22, 12));
    const sim = await startSimulator({
      clock,
      missingAckMode: 'NO_ACKNOWLEDGMENT',
      terminal: { id: '87e791f9e24148a6892c52aa85bb0331', password: TERMINAL_PASSWORD },
      reseller: { id: 'public_test_shop', userId: '9900', password: RESELLER_PASSWORD },
    });
    const client = await SeqrClient.create({
      endpoint: sim.soapUrl,
      terminal: sim.terminal,
      reseller: sim.reseller,
      deadlineMs: 3_000,
    });
    const tmp = tempDir();
    const ledger = SqliteLedger.open({ path: path.join(tmp.dir, 'ledger.sqlite') });
    const j = journal();
    try {
      sim.control.injectFault(op, fault);
      let settled = false;
      const work = closePeriod({
        ledger,
        reconciliation: reconciliationGateway(client),
        clock,
        logger: j.log,
        terminalId: sim.terminal.id,
        retryDelayMs: 1_000,
        maxAttempts: 2,
      })
        .catch(() => undefined)
        .finally(() => {
          settled = true;
        });
      const finished = (): boolean => settled;
      for (let turns = 0; !finished() && turns < 2_000; turns++) {
        await yieldToLoop();
        await new Promise((r) => setTimeout(r, 2));
        const next = clock.nextAt();
        if (next !== undefined) await clock.advanceAsync(next - clock.now());
      }
      await work;
      const lines = j.lines().filter((l) => l['operation'] === op);
      expect(lines.length, `no journal line names ${op}`).toBeGreaterThan(0);
      for (const line of lines) expect(line).toMatchObject(expected(op, fault));
      expectWellFormed(j);
    } finally {
      client.close();
      await sim.close();
      await ledger.close();
      tmp.cleanup();
    }
  });
});
