/**
 * How a failed start reaches the journal: as its catalogue code and message on one line, the
 * stack only at debug level. A system error (a directory, socket or port that could not be
 * opened) becomes E_START_FAILED with the system's message; an error with no code at all is a
 * bug and keeps its stack (E_UNEXPECTED).
 */
import { VendError, errorCodeOf } from '../errors.js';
import type { Logger } from '../log.js';

/** Logs the failure and returns the error to rethrow (a system error wrapped as E_START_FAILED). */
export function reportStartFailure(err: unknown, log: Logger): unknown {
  const failure = isSystemError(err)
    ? new VendError('E_START_FAILED', err.message, { cause: err })
    : err;
  const code = errorCodeOf(failure);
  if (code === undefined) {
    const message = err instanceof Error ? err.message : String(err);
    log.fatal({ code: 'E_UNEXPECTED', err }, `start-up failed: E_UNEXPECTED: ${message}`);
    return err;
  }
  const { message } = failure as VendError;
  log.fatal({ code }, `start-up failed: ${code}: ${message}`);
  log.debug({ err: failure }, 'start-up failure in detail');
  return failure;
}

/** An error from the system (errno code such as EACCES), directly or as the cause. */
function isSystemError(err: unknown): err is Error {
  if (!(err instanceof Error) || err instanceof VendError) return false;
  const errno = (e: unknown) => /^E[A-Z0-9]+$/.test(String((e as NodeJS.ErrnoException).code));
  return errno(err) || errno(err.cause);
}
