import type { PaymentGateway } from '../../daemon/ports/payment-gateway.js';
import { ManualClock } from '../../daemon/runtime/manual-clock.js';
import { SeqrClient } from '../../daemon/seqr/client.js';
import { SeqrPaymentGateway } from '../../daemon/seqr/gateway.js';
import { startSimulator, type SeqrSimulator } from '../../simulator/index.js';
import { startHarness, type Harness, type HarnessOptions } from './harness.js';

/** A gateway wrapper that counts calls in flight, so tests know when real I/O has settled. */
export function trackCalls(inner: PaymentGateway): {
  gateway: PaymentGateway;
  pending: () => number;
} {
  let pending = 0;
  const track = <T>(p: Promise<T>): Promise<T> => {
    pending++;
    return p.finally(() => {
      pending--;
    });
  };
  return {
    pending: () => pending,
    gateway: {
      issueInvoice: (r) => track(inner.issueInvoice(r)),
      getStatus: (ref, v) => track(inner.getStatus(ref, v)),
      cancelInvoice: (ref) => track(inner.cancelInvoice(ref)),
      submitReceipt: (ers, d) => track(inner.submitReceipt(ers, d)),
      refund: (r) => track(inner.refund(r)),
      updateInvoice: (ref, c) => track(inner.updateInvoice(ref, c)),
      commitReservation: (ref, a) => track(inner.commitReservation(ref, a)),
    },
  };
}

const realSleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface SimHarness extends Harness {
  readonly sim: SeqrSimulator;
  /**
   * Moves the shared ManualClock by `ms` in steps of `stepMs`; after each step waits (real time,
   * up to `maxWaitMs`) for the SOAP calls in flight to come back, so real sockets and manual
   * time interleave as they would live.
   */
  advanceIo(ms: number, stepMs?: number, maxWaitMs?: number): Promise<void>;
  /** The reference of the simulator's open invoice for the test terminal. */
  activeRef(): string;
  close(): Promise<void>;
}

export interface SimHarnessOptions extends HarnessOptions {
  /** The SOAP client's hard deadline per call, in real ms. Default 2000. */
  readonly deadlineMs?: number;
  /** Password the daemon uses (default: the simulator's). */
  readonly password?: string;
}

/** The runtime with fakes for hardware and the real SOAP gateway on a loopback simulator. */
export async function startSimHarness(options: SimHarnessOptions = {}): Promise<SimHarness> {
  const clock = new ManualClock(1_763_800_000_000);
  const sim = await startSimulator({
    clock,
    terminal: { id: '87e791f9e24148a6892c52aa85bb0331', password: 'Term-Pw-5e1d' },
    missingAckMode: 'NO_ACKNOWLEDGMENT',
  });
  const client = await SeqrClient.create({
    endpoint: sim.soapUrl,
    terminal: { id: sim.terminal.id, password: options.password ?? sim.terminal.password },
    deadlineMs: options.deadlineMs ?? 2000,
  });
  const tracked = trackCalls(new SeqrPaymentGateway(client, { clock }));
  const h = await startHarness({ ...options, clock, gateway: tracked.gateway });
  const settleIo = async (maxWaitMs: number): Promise<void> => {
    await h.settle();
    const until = Date.now() + maxWaitMs;
    while (tracked.pending() > 0 && Date.now() < until) await realSleep(1);
    await h.settle();
  };
  await settleIo(2000);
  return {
    ...h,
    sim,
    async advanceIo(ms, stepMs = 100, maxWaitMs = 500) {
      for (let left = ms; left > 0; left -= stepMs) {
        await clock.advanceAsync(Math.min(stepMs, left));
        await settleIo(maxWaitMs);
      }
    },
    activeRef() {
      const active = sim.control.activeInvoice();
      if (!active) throw new Error('no open invoice at the simulator');
      return active.reference;
    },
    async close() {
      await h.runtime.stop().catch(() => undefined);
      client.close();
      await sim.close();
    },
  };
}
