// `npm run sim`: the SEQR simulator alone, for any SOAP client (SoapUI, suds, the daemon).
// Options: see parseSimulatorArgs in cli.ts. Exit 64 for bad arguments, 1 when it cannot listen.
import { banner, parseSimulatorArgs, type CliOptions } from './cli.js';
import { startSimulator } from './index.js';
import type { SeqrSimulator } from './types.js';

let options: CliOptions;
try {
  options = parseSimulatorArgs(process.argv.slice(2), process.env);
} catch (err) {
  console.error(`seqr-sim: ${(err as Error).message}`);
  process.exit(64);
}

let sim: SeqrSimulator;
try {
  sim = await startSimulator({
    ...options,
    onCall: (call) => {
      const outcome =
        call.fault ??
        (call.resultCode === undefined ? 'no answer' : `resultCode ${call.resultCode}`);
      console.log(`${new Date(call.at).toISOString()} ${call.op} -> ${outcome}`);
    },
  });
} catch (err) {
  console.error(
    `seqr-sim: cannot listen on ${options.host ?? ''}:${options.port ?? ''}: ${(err as Error).message}`,
  );
  process.exit(1);
}
console.log(banner(sim, options.reversalMs));

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void sim.close().then(() => process.exit(0));
  });
}
