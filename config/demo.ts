/**
 * The configuration `npm start` uses when no `--config` is given: demo mode (the built-in SEQR
 * simulator and virtual hardware), four products, the kiosk web page on, state kept in `.state/`
 * of the working directory so a laptop needs no root.
 */
import path from 'node:path';
import { deepFreeze } from './load.js';
import { configSchema, environmentDefaults, type Config, type ConfigInput } from './schema.js';

/** The demo configuration as an operator would write it. */
export const DEMO_CONFIG_INPUT: ConfigInput = {
  mode: 'demo',
  machine: { name: 'seqr-vend demo' },
  merchant: { name: 'Demo Kiosk', address: 'Demogatan 1, Stockholm', vatRate: '12' },
  locale: 'en',
  currency: 'SEK',
  products: [
    { slot: 1, name: 'Cola 33 cl', price: '25.00', buttonPin: 5, relayPin: 17 },
    { slot: 2, name: 'Mineral water', price: '18.50', buttonPin: 6, relayPin: 27, stock: 3 },
    { slot: 3, name: 'Chocolate bar', price: '15.00', buttonPin: 13, relayPin: 22 },
    { slot: 4, name: 'Crisps', price: '22.00', buttonPin: 19, relayPin: 23 },
  ],
  buttons: { cancelPin: 26 },
  gpio: { backend: 'fake' },
  display: { sink: 'png' },
  printer: { type: 'none' },
  kiosk: { enabled: true, port: 8080 },
};

/**
 * The frozen demo configuration. State lives in `<cwd>/.state` unless systemd's
 * `STATE_DIRECTORY` says otherwise; the control socket next to it unless `RUNTIME_DIRECTORY` does.
 */
export function demoConfig(env: NodeJS.ProcessEnv, cwd: string = process.cwd()): Config {
  const local = path.join(cwd, '.state');
  const defaults = environmentDefaults(env);
  return deepFreeze(
    configSchema({
      stateDirectory: env['STATE_DIRECTORY'] ? defaults.stateDirectory : local,
      controlSocket: env['RUNTIME_DIRECTORY']
        ? defaults.controlSocket
        : path.join(local, 'control.sock'),
    }).parse(DEMO_CONFIG_INPUT),
  );
}
