/**
 * The `soap` package's own debug output (`DEBUG=node-soap*`, through the `debug` package) prints
 * every request's options and every response body; when a SOAP fault or an HTML error page echoes
 * the request, that body holds the password. {@link guardSoapDebug} routes every line that
 * `debug` instance writes (any namespace: axios and follow-redirects share it) through a scrub of
 * the registered secrets, the same {@link SecretSet} scrub the logger applies. Process-wide and
 * idempotent; the SEQR client registers its passwords before it sends anything.
 */
import { createRequire } from 'node:module';
import { formatWithOptions, type InspectOptions } from 'node:util';
import { SecretSet } from '../log.js';

/** One `debug` namespace's logger. */
export interface SoapDebugger {
  (format: string, ...args: unknown[]): void;
  readonly enabled: boolean;
}

/** What this module touches of the `debug` package's node export. */
interface DebugExport {
  (namespace: string): SoapDebugger;
  log: (this: unknown, ...args: unknown[]) => unknown;
  inspectOpts?: InspectOptions;
}

/** The `debug` package instance `soap` loads (resolved from soap's own location). */
function soapsDebug(): DebugExport {
  const fromHere = createRequire(import.meta.url);
  return createRequire(fromHere.resolve('soap'))('debug') as DebugExport;
}

/**
 * The `node-soap` debug namespace soap's own HTTP client writes through (`DEBUG=node-soap`), for
 * an HTTP client that stands in for soap's. Lines go through {@link guardSoapDebug}'s scrub.
 */
export function soapDebugger(): SoapDebugger {
  return soapsDebug()('node-soap');
}

const secrets = new SecretSet();
/** A secret too short to scrub without mangling every line: debug lines are withheld instead. */
let withhold = false;
let installed = false;

/**
 * Registers `values` with the scrub and, the first time, wraps the `debug` package that `soap`
 * loads (resolved from soap's own location, so it is the very instance soap writes through).
 */
export function guardSoapDebug(values: readonly string[]): void {
  for (const value of values) {
    if (value.length >= 4) secrets.add(value);
    else if (value !== '') withhold = true;
  }
  if (installed) return;
  installed = true;
  const debug = soapsDebug();
  const write = debug.log;
  debug.log = function (this: unknown, ...args: unknown[]): unknown {
    const line = withhold
      ? '(debug output withheld: a registered secret is too short to scrub)'
      : secrets.scrub(formatWithOptions(debug.inspectOpts ?? {}, ...args));
    return write.call(this, '%s', line);
  };
}
