// Argument handling and the start-up banner of `npm run sim`, apart from main.ts so they can be
// tested without starting a process.
import { parseArgs } from 'node:util';
import type { SeqrSimulator, SimulatorOptions } from './types.js';

/** Options as `npm run sim` takes them; `reversalMs` is always set so the banner can show it. */
export type CliOptions = SimulatorOptions & { reversalMs: number };

function integer(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined || text === '') return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0)
    throw new Error(`${name} must be a non-negative integer, got ${JSON.stringify(text)}`);
  return n;
}

/**
 * `--port N` (env SEQR_SIM_PORT, default 8913), `--host H` (SEQR_SIM_HOST, default 127.0.0.1),
 * `--reversal-ms N` (SEQR_SIM_REVERSAL_MS, default 20000), `--terminal-id ID` and
 * `--terminal-password PW` (SEQR_SIM_TERMINAL_ID / SEQR_SIM_TERMINAL_PASSWORD, default password
 * 12345678), `--no-ack-default`, `--create-purchase-url URL` (SEQR_SIM_CREATE_PURCHASE_URL: where
 * a UPS scan sends createPurchase). Arguments win over the environment. Throws on an unknown
 * option, a bad number or a URL that is not http(s).
 */
export function parseSimulatorArgs(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): CliOptions {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      'reversal-ms': { type: 'string' },
      'terminal-id': { type: 'string' },
      'terminal-password': { type: 'string' },
      'no-ack-default': { type: 'boolean' },
      'create-purchase-url': { type: 'string' },
    },
  });
  const terminalId = values['terminal-id'] ?? env['SEQR_SIM_TERMINAL_ID'];
  const createPurchaseUrl =
    values['create-purchase-url'] ?? env['SEQR_SIM_CREATE_PURCHASE_URL'] ?? undefined;
  if (createPurchaseUrl !== undefined && !/^https?:\/\/\S+$/.test(createPurchaseUrl))
    throw new Error(
      `create-purchase-url must be an http(s) URL, got ${JSON.stringify(createPurchaseUrl)}`,
    );
  return {
    host: values.host ?? env['SEQR_SIM_HOST'] ?? '127.0.0.1',
    port: integer('port', values.port ?? env['SEQR_SIM_PORT'], 8913),
    reversalMs: integer(
      'reversal-ms',
      values['reversal-ms'] ?? env['SEQR_SIM_REVERSAL_MS'],
      20_000,
    ),
    ...(values['no-ack-default'] === true ? { missingAckMode: 'NO_ACKNOWLEDGMENT' as const } : {}),
    ...(createPurchaseUrl === undefined ? {} : { ups: { createPurchaseUrl } }),
    ...(terminalId === undefined
      ? {}
      : {
          terminal: {
            id: terminalId,
            password:
              values['terminal-password'] ?? env['SEQR_SIM_TERMINAL_PASSWORD'] ?? '12345678',
          },
        }),
  };
}

/** What `npm run sim` prints once it listens: everything a SOAP client needs to connect. */
export function banner(sim: SeqrSimulator, reversalMs: number): string {
  return `SEQR simulator listening
  SOAP endpoint:   ${sim.soapUrl}
  WSDL:            ${sim.wsdlUrl}
  control API:     ${sim.controlUrl}
  test terminal:   id ${sim.terminal.id}  password ${sim.terminal.password}  (type TERMINALID)
  reseller user:   id ${sim.reseller.id}  userId ${sim.reseller.userId}  password ${sim.reseller.password}  (type RESELLERUSER)
  reversal after:  ${reversalMs} ms without a status poll
Pay an invoice:    curl -X POST ${sim.controlUrl}/invoices/<invoiceReference>/pay
Scan a UPS code:   curl -X POST ${sim.controlUrl}/ups/scan -d '{"token":"<machineId>","amount":"50.00"}'`;
}
