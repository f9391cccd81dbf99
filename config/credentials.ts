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

/**
 * Reads credential `name` (see {@link credentialPath}), without its trailing newline.
 *
 * Rejects E_CONFIG_INVALID when the file is missing, empty, not a regular file, readable by its
 * group or others (mode must be 0600 or 0400), or owned by a user other than root or the current
 * user. The message names the file and the fix, never the content.
 */
export async function readCredential(
  name: string,
  env: NodeJS.ProcessEnv,
  fallbackDirectory: string = DEFAULT_CREDENTIALS_DIRECTORY,
): Promise<string> {
  const file = credentialPath(name, env, fallbackDirectory);
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'does not exist' : `cannot be read (${code ?? 'error'})`;
    throw new VendError(
      'E_CONFIG_INVALID',
      `credential ${name}: ${file} ${why}; create it with \`seqr-vend register-terminal\` or as a ` +
        `root-only file (chmod 600) in ${fallbackDirectory}, loaded by the unit's LoadCredential=`,
      { cause: err },
    );
  }
  try {
    const st = await handle.stat();
    if (!st.isFile())
      throw new VendError('E_CONFIG_INVALID', `credential ${name}: ${file} is not a regular file`);
    if ((st.mode & 0o077) !== 0)
      throw new VendError(
        'E_CONFIG_INVALID',
        `credential ${name}: ${file} is readable by group or others (mode ` +
          `${(st.mode & 0o777).toString(8).padStart(4, '0')}); run: chmod 600 ${file}`,
      );
    const uid = process.getuid?.();
    if (st.uid !== 0 && st.uid !== uid)
      throw new VendError(
        'E_CONFIG_INVALID',
        `credential ${name}: ${file} is owned by uid ${st.uid}; it must belong to root`,
      );
    const secret = (await handle.readFile('utf8')).replace(/\r?\n$/, '');
    if (secret === '')
      throw new VendError('E_CONFIG_INVALID', `credential ${name}: ${file} is empty`);
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
