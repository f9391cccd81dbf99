// TLS is always verified: an unknown CA or a wrong host name is E_SEQR_UNREACHABLE; an extra CA
// from the options is trusted in addition to the system roots; one TLS session serves many calls.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SeqrClient } from '../../daemon/seqr/client.js';
import { answer } from './stub-server.js';
import { expectNoSecrets, rejectionOf, TERMINAL_PASSWORD } from './support.js';

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const openssl = hasOpenssl();
let dir = '';
let server: https.Server | undefined;
let port = 0;
let ca = '';
let secureConnections = 0;

beforeAll(async () => {
  if (!openssl) return;
  dir = mkdtempSync(path.join(os.tmpdir(), 'seqr-tls-'));
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  run(
    'req',
    '-x509',
    ...ec,
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '2',
    '-subj',
    '/CN=seqr-vend test CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  );
  run('req', ...ec, '-keyout', 'srv.key', '-out', 'srv.csr', '-subj', '/CN=127.0.0.1');
  writeFileSync(
    path.join(dir, 'ext.cnf'),
    'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n',
  );
  run(
    'x509',
    '-req',
    '-in',
    'srv.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'srv.pem',
    '-days',
    '2',
    '-extfile',
    'ext.cnf',
  );
  ca = readFileSync(path.join(dir, 'ca.pem'), 'utf8');
  server = https.createServer(
    { key: readFileSync(path.join(dir, 'srv.key')), cert: readFileSync(path.join(dir, 'srv.pem')) },
    (req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'text/xml' });
        res.end(answer('benchmarkingNop', '<resultCode>0</resultCode>'));
      });
    },
  );
  server.on('secureConnection', () => {
    secureConnections++;
  });
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  if (server) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => {
      server!.close(() => {
        resolve();
      });
    });
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!openssl)('TLS', () => {
  const make = (host: string, withCa: boolean) =>
    SeqrClient.create({
      endpoint: `https://${host}:${port}/soap`,
      terminal: { id: 't', password: TERMINAL_PASSWORD },
      deadlineMs: 8000,
      ...(withCa ? { ca } : {}),
    });

  it('refuses a certificate from an unknown CA: E_SEQR_UNREACHABLE, no password', async () => {
    const client = await make('127.0.0.1', false);
    try {
      const err = await rejectionOf(client.benchmarkingNop());
      expect(err).toMatchObject({ code: 'E_SEQR_UNREACHABLE', retryable: true });
      expect((err.cause as { code?: string }).code).toMatch(/CERT|SIGNATURE|ISSUER/);
      expectNoSecrets(err, [TERMINAL_PASSWORD]);
    } finally {
      client.close();
    }
  });

  it('trusts the extra CA and reuses one TLS connection for many calls', async () => {
    const client = await make('127.0.0.1', true);
    try {
      const before = secureConnections;
      for (let i = 0; i < 5; i++) await client.benchmarkingNop();
      expect(secureConnections - before).toBe(1);
    } finally {
      client.close();
    }
  });

  it('still checks the host name with the extra CA', async () => {
    const client = await make('localhost', true);
    try {
      const err = await rejectionOf(client.benchmarkingNop());
      expect(err).toMatchObject({ code: 'E_SEQR_UNREACHABLE' });
      expect((err.cause as { code?: string }).code).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
    } finally {
      client.close();
    }
  });
});
