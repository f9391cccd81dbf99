/**
 * `seqr-vend gateway`: wires a configuration to a running gateway (credentials, TLS files, the
 * logger, the broker relay, the HTTP(S) server) and stops it in order (server first, so the
 * requests in flight still get their answers, then the broker link).
 */
import { readFile } from 'node:fs/promises';
import { readCredential } from '../../config/credentials.js';
import { VendError } from '../errors.js';
import { createLogger, SecretSet, type Logger, type LineSink } from '../log.js';
import {
  GATEWAY_BROKER_PASSWORD_CREDENTIAL,
  GATEWAY_CREDENTIALS_DIRECTORY,
  GATEWAY_PATH_TOKEN_CREDENTIAL,
  type GatewayConfig,
} from './config.js';
import { redactBrokerUrl } from './redact.js';
import { MqttRelay, type MachineRelay } from './relay.js';
import { startGatewayServer } from './server.js';

export interface RunningGateway {
  readonly url: string;
  readonly log: Logger;
  readonly relay: MachineRelay;
  /** Stops taking requests, answers those in flight, closes the broker link. Idempotent. */
  stop(): Promise<void>;
}

export interface GatewayRunOptions {
  readonly config: GatewayConfig;
  readonly env: NodeJS.ProcessEnv;
  /**
   * Where the secrets are read outside systemd; default /etc/seqr-vend/gateway-credentials.
   * Under systemd (`$CREDENTIALS_DIRECTORY`) they are the credentials `gateway_<name>`.
   */
  readonly credentialsDirectory?: string;
  /** Where log lines go; default stdout. */
  readonly logDestination?: LineSink;
  readonly prettyLogs?: boolean;
}

async function readPem(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new VendError(
      'E_CONFIG_INVALID',
      `${what}: ${path} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
      { cause: err },
    );
  }
}

/** Reads secret `name` (see {@link GatewayRunOptions.credentialsDirectory}). */
function readSecret(name: string, env: NodeJS.ProcessEnv, directory: string): Promise<string> {
  const systemd = env['CREDENTIALS_DIRECTORY'];
  return systemd !== undefined && systemd !== ''
    ? readCredential(`gateway_${name}`, env)
    : readCredential(name, {}, directory);
}

export async function runGateway(options: GatewayRunOptions): Promise<RunningGateway> {
  const { config, env } = options;
  const directory = options.credentialsDirectory ?? GATEWAY_CREDENTIALS_DIRECTORY;
  const secrets = new SecretSet();
  const password =
    config.broker.username === undefined
      ? undefined
      : await readSecret(GATEWAY_BROKER_PASSWORD_CREDENTIAL, env, directory);
  const pathToken = config.pathToken
    ? await readSecret(GATEWAY_PATH_TOKEN_CREDENTIAL, env, directory)
    : undefined;
  if (pathToken !== undefined && !/^[A-Za-z0-9_-]{16,128}$/.test(pathToken))
    throw new VendError(
      'E_CONFIG_INVALID',
      `credential ${GATEWAY_PATH_TOKEN_CREDENTIAL}: must be 16-128 letters, digits, "-" or "_"`,
    );
  for (const secret of [password, pathToken])
    if (secret !== undefined && secret.length >= 4) secrets.add(secret);
  const log = createLogger({
    level: config.log.level,
    secrets,
    env,
    ...(options.logDestination === undefined ? {} : { destination: options.logDestination }),
    ...(options.prettyLogs === true ? { pretty: true } : {}),
  }).child({ component: 'gateway' });

  const b = config.broker;
  const [ca, cert, key] = await Promise.all([
    b.caFile === undefined ? undefined : readPem(b.caFile, 'broker.caFile'),
    b.certFile === undefined ? undefined : readPem(b.certFile, 'broker.certFile'),
    b.keyFile === undefined ? undefined : readPem(b.keyFile, 'broker.keyFile'),
  ]);
  const tls =
    config.tls === undefined
      ? undefined
      : {
          cert: await readPem(config.tls.certFile, 'tls.certFile'),
          key: await readPem(config.tls.keyFile, 'tls.keyFile'),
        };
  const broker = redactBrokerUrl(b.url);
  const relay = MqttRelay.open({
    url: b.url,
    sender: b.sender,
    prefix: b.prefix,
    ...(b.username === undefined ? {} : { username: b.username }),
    ...(password === undefined ? {} : { password }),
    ...(ca === undefined ? {} : { ca }),
    ...(cert === undefined ? {} : { cert }),
    ...(key === undefined ? {} : { key }),
    maxWaiting: config.maxInFlight * 2,
    onLinkChange: (connected, reason) => {
      if (connected) log.info({ broker }, 'broker connected');
      else
        log.warn(
          { broker, code: 'E_GATEWAY_BROKER', reason },
          'broker unavailable: createPurchase is answered DEVICE_UNAVAILABLE until it is back',
        );
    },
  });
  let server;
  try {
    server = await startGatewayServer({
      host: config.listen.host,
      port: config.listen.port,
      ...(tls === undefined ? {} : { tls }),
      basePath: config.basePath,
      ...(pathToken === undefined ? {} : { pathToken }),
      relay,
      log,
      purchaseDeadlineMs: config.deadlines.purchaseMs,
      notifyDeadlineMs: config.deadlines.notifyMs,
      maxInFlight: config.maxInFlight,
    });
  } catch (err) {
    await relay.close();
    throw err;
  }
  log.info(
    {
      url: server.url,
      basePath: config.basePath,
      tls: tls !== undefined,
      pathToken: pathToken !== undefined,
      broker,
      prefix: b.prefix,
    },
    'gateway listening',
  );
  const listening = server;
  let stopping: Promise<void> | undefined;
  return {
    url: server.url,
    log,
    relay,
    stop: () => {
      stopping ??= (async () => {
        await listening.close();
        await relay.close();
        log.info({}, 'gateway stopped');
      })();
      return stopping;
    },
  };
}
