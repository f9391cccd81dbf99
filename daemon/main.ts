#!/usr/bin/env node
// The seqr-vend binary: the daemon (default command) and the operator's commands. See cli/cli.ts.
import type { App } from './app.js';
import { runCli } from './cli/cli.js';

let app: App | undefined;
let failing = false;
// An error nothing caught: outputs safe and the ledger closed through an orderly stop, then exit
// 70 so systemd restarts the service (ExecStopPost drives the relays safe once more).
const fatal = (err: unknown): void => {
  if (failing) return;
  failing = true;
  if (app) app.log.fatal({ err }, 'uncaught error: stopping');
  else console.error('seqr-vend: uncaught error:', err);
  void (app?.stop() ?? Promise.resolve()).finally(() => process.exit(70));
};
process.on('uncaughtException', fatal);
process.on('unhandledRejection', fatal);

process.exitCode = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  onStarted: (started) => {
    app = started;
  },
});
