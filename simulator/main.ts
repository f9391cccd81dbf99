// `npm run sim`: the SEQR simulator alone, for any SOAP client (SoapUI, suds, the daemon).
// Options: --port N (env SEQR_SIM_PORT, default 8913), --host H (env SEQR_SIM_HOST, default
// 127.0.0.1), --reversal-ms N (env SEQR_SIM_REVERSAL_MS, default 20000), --terminal-id ID and
// --terminal-password PW (env SEQR_SIM_TERMINAL_ID / SEQR_SIM_TERMINAL_PASSWORD), --no-ack-default
// (a missing acknowledgmentMode means NO_ACKNOWLEDGMENT).
import { parseArgs } from 'node:util';
import { startSimulator } from './index.js';
import type { SeqrSimulator, SimulatorOptions } from './types.js';

function integer(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined || text === '') return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) {
    console.error(`seqr-sim: ${name} must be a non-negative integer, got ${JSON.stringify(text)}`);
    process.exit(64);
  }
  return n;
}

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    host: { type: 'string' },
    'reversal-ms': { type: 'string' },
    'terminal-id': { type: 'string' },
    'terminal-password': { type: 'string' },
    'no-ack-default': { type: 'boolean' },
  },
});
const env = process.env;
const terminalId = values['terminal-id'] ?? env['SEQR_SIM_TERMINAL_ID'];
const options: SimulatorOptions = {
  host: values.host ?? env['SEQR_SIM_HOST'] ?? '127.0.0.1',
  port: integer('port', values.port ?? env['SEQR_SIM_PORT'], 8913),
  reversalMs: integer('reversal-ms', values['reversal-ms'] ?? env['SEQR_SIM_REVERSAL_MS'], 20_000),
  onCall: (call) => {
    const outcome =
      call.fault ?? (call.resultCode === undefined ? 'no answer' : `resultCode ${call.resultCode}`);
    console.log(`${new Date(call.at).toISOString()} ${call.op} -> ${outcome}`);
  },
  ...(values['no-ack-default'] === true ? { missingAckMode: 'NO_ACKNOWLEDGMENT' as const } : {}),
  ...(terminalId === undefined
    ? {}
    : {
        terminal: {
          id: terminalId,
          password: values['terminal-password'] ?? env['SEQR_SIM_TERMINAL_PASSWORD'] ?? '12345678',
        },
      }),
};

let sim: SeqrSimulator;
try {
  sim = await startSimulator(options);
} catch (err) {
  console.error(
    `seqr-sim: cannot listen on ${options.host ?? ''}:${options.port ?? ''}: ${(err as Error).message}`,
  );
  process.exit(1);
}
console.log(`SEQR simulator listening
  SOAP endpoint:   ${sim.soapUrl}
  WSDL:            ${sim.wsdlUrl}
  control API:     ${sim.controlUrl}
  test terminal:   id ${sim.terminal.id}  password ${sim.terminal.password}  (type TERMINALID)
  reseller user:   id ${sim.reseller.id}  userId ${sim.reseller.userId}  password ${sim.reseller.password}  (type RESELLERUSER)
  reversal after:  ${options.reversalMs ?? 20_000} ms without a status poll
Pay an invoice:    curl -X POST ${sim.controlUrl}/invoices/<invoiceReference>/pay`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void sim.close().then(() => process.exit(0));
  });
}
