/**
 * Secrets never live in config.yaml. Under systemd they arrive as credentials
 * (`LoadCredential=` -> `$CREDENTIALS_DIRECTORY/<name>`); outside systemd (the CLI run as root,
 * development) they are read from a root-only file in the credentials directory, and a file that
 * its group or others could read is refused. No message here ever contains a secret's content.
 */
import { constants, promises as fs } from 'node:fs';
import path from 'node:path';
import { VendError } from '../daemon/errors.js';

/** The terminal password credential (systemd `LoadCredential=` name and file name). */
export const TERMINAL_PASSWORD_CREDENTIAL = 'seqr-terminal-password';
/** The reseller user's password, used by `register-terminal` and end-of-day reports. */
export const RESELLER_PASSWORD_CREDENTIAL = 'seqr-reseller-password';
/** The machine's MQTT broker password (config `fleet`); an empty or missing file means none. */
export const FLEET_PASSWORD_CREDENTIAL = 'fleet-password';
/** Where the installer keeps credential files; the unit loads them from here. */
export const DEFAULT_CREDENTIALS_DIRECTORY = '/etc/seqr-vend/credentials';

/**
 * Where credential `name` is read from: `$CREDENTIALS_DIRECTORY/<name>` when systemd set that
 * variable, else `<fallbackDirectory>/<name>`.
 */
export function credentialPath(
  name: string,
  env: NodeJS.ProcessEnv,
  fallbackDirectory: string = DEFAULT_CREDENTIALS_DIRECTORY,
): string {
  const dir = env['CREDENTIALS_DIRECTORY'];
  return path.join(dir !== undefined && dir !== '' ? dir : fallbackDirectory, name);
}

/** The largest credential file read: a password is one short line. */
const MAX_CREDENTIAL_BYTES = 4_096;

/**
 * A credential that cannot be used, with the reason (never the content). `missing` tells a file
 * that does not exist from one that exists but is unusable: an optional credential may be absent,
 * never broken.
 */
export class CredentialError extends VendError {
  readonly missing: boolean;
  constructor(message: string, missing: boolean, cause?: unknown) {
    super('E_CONFIG_INVALID', message, cause === undefined ? {} : { cause });
    this.name = 'CredentialError';
    this.missing = missing;
  }
}

/**
 * Reads credential `name` (see {@link credentialPath}), without its trailing newline.
 *
 * Rejects with a {@link CredentialError} (code E_CONFIG_INVALID) that says why: the file does not
 * exist, cannot be read by this user, is a symbolic link or not a regular file, is empty, shorter
 * than 4 characters, larger than 4 KiB, more than one line or holds control characters, belongs to
 * a user other than root or the current one, or others may read it; in the fallback directory its
 * group must not read it either (mode 0600 or 0400). Under systemd (`$CREDENTIALS_DIRECTORY`)
 * group bits are allowed: systemd writes the file 0400 and grants the service user read access
 * through an ACL, whose mask shows as group bits. The message names the file and the fix, never
 * the content.
 */
export async function readCredential(
  name: string,
  env: NodeJS.ProcessEnv,
  fallbackDirectory: string = DEFAULT_CREDENTIALS_DIRECTORY,
): Promise<string> {
  const file = credentialPath(name, env, fallbackDirectory);
  const managed = file !== path.join(fallbackDirectory, name);
  const refuse = (why: string, missing = false, cause?: unknown): CredentialError =>
    new CredentialError(`credential ${name}: ${file} ${why}`, missing, cause);
  const uid = process.getuid?.();
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    switch (code) {
      case 'ENOENT':
        throw refuse(
          'does not exist; create it with `seqr-vend register-terminal` or as a root-only file ' +
            `(chmod 600) in ${fallbackDirectory}, loaded by the unit's LoadCredential=`,
          true,
          err,
        );
      case 'EACCES':
        throw refuse(
          `cannot be read by uid ${String(uid)} (permission denied); run the command as root, ` +
            "or let systemd pass it to the service (the unit's LoadCredential=)",
          false,
          err,
        );
      case 'ELOOP':
        throw refuse('is a symbolic link; put the password in a regular file', false, err);
      case undefined:
      default:
        throw refuse(`cannot be read (${code ?? 'error'})`, false, err);
    }
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw refuse('is not a regular file');
    // systemd grants the service user read access through an ACL, whose mask shows as group bits.
    if ((st.mode & (managed ? 0o007 : 0o077)) !== 0)
      throw refuse(
        'is readable by group or others (mode ' +
          `${(st.mode & 0o777).toString(8).padStart(4, '0')}); run: chmod 600 ${file}`,
      );
    if (st.uid !== 0 && st.uid !== uid)
      throw refuse(
        `is owned by uid ${String(st.uid)}; it must belong to root` +
          (uid === undefined || uid === 0 ? '' : ` or to uid ${String(uid)}, who runs this`) +
          `; run: chown root: ${file}`,
      );
    if (st.size > MAX_CREDENTIAL_BYTES)
      throw refuse(`is ${String(st.size)} bytes; a credential is one line, the password alone`);
    const secret = (await handle.readFile('utf8')).replace(/\r?\n$/, '');
    if (secret.trim() === '') throw refuse('is empty');
    if (secret.length < 4)
      throw refuse(
        'holds fewer than 4 characters: too short to be scrubbed from the output (not a SEQR password)',
      );
    if (/[\r\n]/.test(secret))
      throw refuse('holds more than one line; a credential is one line, the password alone');
    // eslint-disable-next-line no-control-regex -- control characters are what is looked for
    if (/[\x00-\x08\x0b-\x1f\x7f]/.test(secret))
      throw refuse('holds control characters; write the password as plain text');
    return secret;
  } finally {
    await handle.close();
  }
}

/** The terminal password: credential `seqr-terminal-password` (see {@link readCredential}). */
export function readTerminalPassword(
  config: { readonly credentialsDirectory: string },
  env: NodeJS.ProcessEnv,
): Promise<string> {
  return readCredential(TERMINAL_PASSWORD_CREDENTIAL, env, config.credentialsDirectory);
}

/** The reseller user's password: credential `seqr-reseller-password`. */
export function readResellerPassword(
  config: { readonly credentialsDirectory: string },
  env: NodeJS.ProcessEnv,
): Promise<string> {
  return readCredential(RESELLER_PASSWORD_CREDENTIAL, env, config.credentialsDirectory);
}

/**
 * Writes credential `name` into `directory` as a root-only file (mode 0600, directory 0700),
 * atomically: a reader sees the old content or the new, never a partial file.
 */
export async function writeCredential(
  directory: string,
  name: string,
  secret: string,
): Promise<string> {
  await fs.mkdir(directory, { recursive: true, mode: 0o700 });
  const file = path.join(directory, name);
  const temp = `${file}.${String(process.pid)}.tmp`;
  const handle = await fs.open(temp, 'wx', 0o600);
  try {
    await handle.writeFile(`${secret}\n`);
    await handle.chmod(0o600);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fs.rename(temp, file);
  return file;
}

/**
 * The broker password of the `fleet` connection, or undefined when its credential file is missing
 * or empty (a broker that takes client certificates, or none). A file that exists is checked as
 * {@link readCredential} checks it.
 */
export async function readFleetPassword(
  config: { readonly credentialsDirectory: string },
  env: NodeJS.ProcessEnv,
): Promise<string | undefined> {
  const file = credentialPath(FLEET_PASSWORD_CREDENTIAL, env, config.credentialsDirectory);
  const size = await fs.stat(file).then(
    (st) => st.size,
    () => 0,
  );
  if (size === 0) return undefined;
  return readCredential(FLEET_PASSWORD_CREDENTIAL, env, config.credentialsDirectory);
}
