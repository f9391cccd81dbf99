/**
 * `seqr-vend register-terminal`: registers this machine with SEQR as a new terminal (reseller
 * credentials) and keeps the new terminal's password as the root-only credential the unit loads.
 *
 * The password is generated here (SEQR's registerTerminal takes the client's choice), written to
 * a root-only pending file BEFORE the call, and moved into place only after SEQR accepted it: a
 * registration that succeeded never loses its password, and a failed one leaves nothing behind.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { TERMINAL_PASSWORD_CREDENTIAL, writeCredential } from '../../config/credentials.js';
import { VendError } from '../errors.js';

/** The SEQR call (the SOAP client's `registerTerminal`), injected by the composition root. */
export type RegisterTerminalFn = (terminal: {
  readonly externalTerminalId: string;
  readonly password: string;
  readonly name: string;
}) => Promise<{ readonly terminalId: string }>;

export interface RegisterTerminalOptions {
  readonly register: RegisterTerminalFn;
  /** Where the credential file goes, e.g. `/etc/seqr-vend/credentials`. */
  readonly credentialsDirectory: string;
  /** The merchant's own id of this till, e.g. `Kiosk 1`. */
  readonly externalTerminalId: string;
  /** The name shown on the buyer's phone. */
  readonly name: string;
  /** When given, `seqr.terminalId` in this YAML file is set to the new id, comments kept. */
  readonly configPath?: string;
  /** Injected for tests. Default: 24 random bytes, base64url (32 characters). */
  readonly newPassword?: () => string;
}

export interface RegisteredTerminal {
  readonly terminalId: string;
  /** The credential file now holding the terminal password. */
  readonly credentialFile: string;
  readonly configUpdated: boolean;
}

/**
 * Registers the terminal and stores its password. Rejects with the SEQR client's error when the
 * registration fails (nothing is stored then), or E_CONFIG_INVALID when the config file cannot be
 * updated (the credential is stored; the message gives the id to enter by hand).
 */
export async function registerTerminal(
  options: RegisterTerminalOptions,
): Promise<RegisteredTerminal> {
  const password = (options.newPassword ?? (() => randomBytes(24).toString('base64url')))();
  const pendingName = `${TERMINAL_PASSWORD_CREDENTIAL}.pending`;
  const pending = await writeCredential(options.credentialsDirectory, pendingName, password);
  let terminalId: string;
  try {
    ({ terminalId } = await options.register({
      externalTerminalId: options.externalTerminalId,
      password,
      name: options.name,
    }));
  } catch (err) {
    await fs.rm(pending, { force: true });
    throw err;
  }
  const credentialFile = path.join(options.credentialsDirectory, TERMINAL_PASSWORD_CREDENTIAL);
  await fs.rename(pending, credentialFile);
  if (options.configPath === undefined) return { terminalId, credentialFile, configUpdated: false };
  try {
    await setTerminalId(options.configPath, terminalId);
  } catch (err) {
    throw new VendError(
      'E_CONFIG_INVALID',
      `terminal ${terminalId} registered and its password stored in ${credentialFile}, but ` +
        `${options.configPath} could not be updated: set seqr.terminalId: ${terminalId} by hand`,
      { cause: err },
    );
  }
  return { terminalId, credentialFile, configUpdated: true };
}

/** Sets `seqr.terminalId` in a YAML file, keeping its comments, layout, mode and owner. */
async function setTerminalId(configPath: string, terminalId: string): Promise<void> {
  const text = await fs.readFile(configPath, 'utf8');
  const doc = parseDocument(text);
  if (doc.errors.length > 0) throw doc.errors[0] ?? new Error('YAML error');
  doc.setIn(['seqr', 'terminalId'], terminalId);
  const original = await fs.stat(configPath);
  const temp = `${configPath}.${String(process.pid)}.tmp`;
  try {
    await fs.writeFile(temp, doc.toString(), { mode: original.mode & 0o777 });
    await fs.chmod(temp, original.mode & 0o777);
    // Keep root:seqr-vend, or the service could no longer read its configuration.
    const created = await fs.stat(temp);
    if (created.uid !== original.uid || created.gid !== original.gid)
      await fs.chown(temp, original.uid, original.gid);
    await fs.rename(temp, configPath);
  } finally {
    await fs.rm(temp, { force: true });
  }
}
