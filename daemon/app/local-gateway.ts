/**
 * Demo mode's SEQR callback gateway: with the built-in simulator and `ups:` configured, the
 * gateway endpoint runs in this process on a loopback port and relays to this machine without a
 * broker (LocalRelay). The simulated SEQR's createPurchase and notifications then take the same
 * path, validation and answers as in production, minus MQTT.
 */
import { LocalRelay } from '../gateway/local-relay.js';
import { startGatewayServer } from '../gateway/server.js';
import type { Logger } from '../log.js';
import type { SeqrSimulator } from '../../simulator/types.js';
import { DEMO_MACHINE_ID } from './core-config.js';
import type { StopOrder } from './stop-order.js';

export interface LocalGateway {
  /** The gateway's base URL (`http://127.0.0.1:PORT/seqr`). */
  readonly url: string;
  readonly machineId: string;
  /** Where this machine registers its handlers. */
  readonly relay: LocalRelay;
}

export async function startLocalGateway(deps: {
  readonly simulator: SeqrSimulator;
  readonly log: Logger;
  readonly stopOrder: StopOrder;
}): Promise<LocalGateway> {
  const relay = new LocalRelay(DEMO_MACHINE_ID);
  const server = await startGatewayServer({
    host: '127.0.0.1',
    port: 0,
    basePath: '/seqr',
    relay,
    log: deps.log.child({ component: 'gateway' }),
    purchaseDeadlineMs: 15_000,
    notifyDeadlineMs: 3_000,
    maxInFlight: 8,
  });
  deps.stopOrder.add(async () => {
    await server.close();
    await relay.close();
  });
  const url = `${server.url}/seqr`;
  deps.simulator.control.setCreatePurchaseUrl(`${url}/createPurchase`);
  return { url, machineId: DEMO_MACHINE_ID, relay };
}
