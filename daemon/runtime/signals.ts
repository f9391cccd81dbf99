import type { Runtime } from './runtime.js';

/** The log lines the handlers write (a pino logger, or one that writes once the daemon runs). */
export interface SignalLog {
  info(fields: object, msg: string): void;
  warn(fields: object, msg: string): void;
  error(fields: object, msg: string): void;
}

/** The part of `process` the signal handlers use (injected by tests). */
export interface SignalTarget {
  on(signal: 'SIGTERM' | 'SIGINT', listener: () => void): unknown;
  off(signal: 'SIGTERM' | 'SIGINT', listener: () => void): unknown;
  exitCode?: number | string | null | undefined;
}

/**
 * Wires SIGTERM and SIGINT to `runtime.stop()`: the first signal starts an orderly stop (a running
 * dispense finishes, outputs go safe, adapters close in reverse order) and sets the exit code to 0,
 * or 1 if a close failed; further signals while stopping are logged and ignored, so a second
 * Ctrl-C cannot cut a dispense short. Resolves `stopped` when done. Returns the uninstaller.
 */
export function installSignalHandlers(
  runtime: Pick<Runtime, 'stop'>,
  log: SignalLog,
  target: SignalTarget = process,
): { readonly uninstall: () => void; readonly stopped: Promise<void> } {
  let stopping = false;
  let resolveStopped: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => {
    resolveStopped = resolve;
  });
  const onSignal = (signal: 'SIGTERM' | 'SIGINT'): void => {
    if (stopping) {
      log.warn({ signal }, 'already stopping');
      return;
    }
    stopping = true;
    log.info({ signal }, 'signal received: stopping');
    runtime.stop().then(
      () => {
        target.exitCode = 0;
        resolveStopped();
      },
      (err: unknown) => {
        log.error({ err }, 'stop failed');
        target.exitCode = 1;
        resolveStopped();
      },
    );
  };
  const onTerm = (): void => {
    onSignal('SIGTERM');
  };
  const onInt = (): void => {
    onSignal('SIGINT');
  };
  target.on('SIGTERM', onTerm);
  target.on('SIGINT', onInt);
  return {
    uninstall: () => {
      target.off('SIGTERM', onTerm);
      target.off('SIGINT', onInt);
    },
    stopped,
  };
}
