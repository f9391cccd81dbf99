import { ManualClock } from '../../daemon/runtime/manual-clock.js';
import { OPERATION_OF } from '../../daemon/seqr/domain-codes.js';
import { FakePaymentGateway } from '../../daemon/seqr/fake-gateway.js';
import { SeqrPaymentGateway } from '../../daemon/seqr/gateway.js';
import { clientFor, startSim } from '../seqr/support.js';
import { describePaymentGatewayContract } from './payment-gateway.contract.js';

describePaymentGatewayContract(
  'SeqrPaymentGateway over loopback SOAP to the simulator',
  async () => {
    const sim = await startSim();
    const client = await clientFor(sim);
    return {
      gateway: new SeqrPaymentGateway(client),
      startPaying: (ref) => {
        sim.control.startPaying(ref);
      },
      pay: (ref) => {
        sim.control.pay(ref);
      },
      cancelInApp: (ref) => {
        sim.control.cancelInApp(ref);
      },
      answerNext: (method, resultCode) => {
        sim.control.injectFault(OPERATION_OF[method], { kind: 'result', resultCode }, { times: 1 });
      },
      failTransportNext: (method) => {
        sim.control.injectFault(OPERATION_OF[method], { kind: 'http', status: 503 }, { times: 1 });
      },
      dispose: async () => {
        client.close();
        await sim.close();
      },
    };
  },
);

describePaymentGatewayContract('FakePaymentGateway', () => {
  const fake = new FakePaymentGateway({ clock: new ManualClock(1_763_800_000_000) });
  return Promise.resolve({
    gateway: fake,
    startPaying: (ref) => {
      fake.startPaying(ref);
    },
    pay: (ref) => {
      fake.pay(ref);
    },
    cancelInApp: (ref) => {
      fake.cancelInApp(ref);
    },
    answerNext: (method, resultCode) => {
      fake.failNext({ resultCode }, method);
    },
    failTransportNext: (method) => {
      fake.failNext('E_SEQR_HTTP', method);
    },
    dispose: () => Promise.resolve(),
  });
});
