/**
 * Starts the machine's fleet link from the `fleet` configuration: reads the broker password
 * credential and the TLS files, opens the link (in the background: the machine never waits for
 * the broker) and starts the agent.
 */
import { readFile } from 'node:fs/promises';
import { readFleetPassword } from '../../config/credentials.js';
import type { FleetConfig } from '../../config/schema.js';
import { VendError } from '../errors.js';
import type { Clock } from '../ports/clock.js';
import { FleetAgent } from './agent.js';
import type { DiscoveryDevice } from './discovery.js';
import { MqttLink, type FleetLog } from './link.js';
import type { FleetMachine } from './port.js';
import { machineTopics } from './topics.js';

export interface StartFleetOptions {
  readonly fleet: FleetConfig;
  readonly credentialsDirectory: string;
  readonly env: NodeJS.ProcessEnv;
  readonly machine: FleetMachine;
  readonly clock: Clock;
  readonly log: FleetLog;
  /** Home Assistant's device description (used when `fleet.homeAssistant.enabled`). */
  readonly device: Omit<DiscoveryDevice, 'machineId'>;
  /** Called with the broker password so the logger can redact it. */
  readonly onSecret?: (secret: string) => void;
}

export async function startFleet(options: StartFleetOptions): Promise<FleetAgent> {
  const { fleet } = options;
  const password = await readFleetPassword(
    { credentialsDirectory: options.credentialsDirectory },
    options.env,
  );
  if (password !== undefined) options.onSecret?.(password);
  const file = (key: 'caFile' | 'certFile' | 'keyFile'): Promise<Buffer | undefined> => {
    const name = fleet[key];
    if (name === undefined) return Promise.resolve(undefined);
    return readFile(name).catch((err: unknown) => {
      throw new VendError('E_CONFIG_INVALID', `fleet.${key} ${name} cannot be read`, {
        cause: err,
      });
    });
  };
  const [ca, cert, key] = await Promise.all([file('caFile'), file('certFile'), file('keyFile')]);
  const topics = machineTopics(fleet.prefix, fleet.machineId);
  const link = MqttLink.open({
    url: fleet.url,
    clientId: fleet.machineId,
    username: fleet.username ?? fleet.machineId,
    ...(password === undefined ? {} : { password }),
    ...(ca === undefined ? {} : { ca }),
    ...(cert === undefined ? {} : { cert }),
    ...(key === undefined ? {} : { key }),
    will: { topic: topics.availability, payload: 'offline' },
    clock: options.clock,
    log: options.log,
  });
  const agent = new FleetAgent({
    machineId: fleet.machineId,
    prefix: fleet.prefix,
    machine: options.machine,
    link,
    clock: options.clock,
    log: options.log,
    statePeriodMs: fleet.statePeriodMs,
    outOfServiceAlertMs: fleet.outOfServiceAlertMs,
    ...(fleet.homeAssistant.enabled
      ? {
          homeAssistant: {
            discoveryPrefix: fleet.homeAssistant.discoveryPrefix,
            device: options.device,
          },
        }
      : {}),
  });
  agent.start();
  return agent;
}
