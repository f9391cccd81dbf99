import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  FLEET_PASSWORD_CREDENTIAL,
  RESELLER_PASSWORD_CREDENTIAL,
  TERMINAL_PASSWORD_CREDENTIAL,
} from '../../config/credentials.js';
import { EXIT_CONFIG } from '../../config/load.js';

const UNIT = path.join(import.meta.dirname, '../../systemd/seqr-vend.service');
const text = readFileSync(UNIT, 'utf8');

/** Every value of `key=` in the unit, in order. */
function values(key: string): string[] {
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${key}=`))
    .map((line) => line.slice(key.length + 1));
}

function analyzeUnavailable(): string | undefined {
  const probe = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
  if (probe.error) return 'systemd-analyze is not installed (Debian package systemd)';
  if (probe.status !== 0) return `systemd-analyze cannot run here: ${probe.stderr.trim()}`;
  return undefined;
}

describe('systemd/seqr-vend.service', () => {
  it('is a notify service with a watchdog that stays failed on an invalid config', () => {
    expect(values('Type')).toEqual(['notify']);
    // The daemon sends every notification itself (a datagram, no helper process).
    expect(values('NotifyAccess')).toEqual(['main']);
    expect(values('WatchdogSec')).toEqual(['30s']);
    expect(values('Restart')).toEqual(['on-failure']);
    expect(values('RestartPreventExitStatus')).toEqual([String(EXIT_CONFIG)]);
    expect(values('ExecStopPost')[0]).toMatch(/dist\/daemon\/main\.js safe-state/);
  });

  it('runs as seqr-vend with the device groups, directories and credentials the daemon reads', () => {
    expect(values('User')).toEqual(['seqr-vend']);
    expect(values('SupplementaryGroups')[0]?.split(' ')).toEqual([
      'gpio',
      'video',
      'lp',
      'dialout',
    ]);
    expect(values('StateDirectory')).toEqual(['seqr-vend']);
    expect(values('RuntimeDirectory')).toEqual(['seqr-vend']);
    expect(values('ConfigurationDirectory')).toEqual(['seqr-vend']);
    expect(values('LoadCredential')).toEqual([
      `${TERMINAL_PASSWORD_CREDENTIAL}:/etc/seqr-vend/credentials/${TERMINAL_PASSWORD_CREDENTIAL}`,
      `${RESELLER_PASSWORD_CREDENTIAL}:/etc/seqr-vend/credentials/${RESELLER_PASSWORD_CREDENTIAL}`,
      `${FLEET_PASSWORD_CREDENTIAL}:/etc/seqr-vend/credentials/${FLEET_PASSWORD_CREDENTIAL}`,
    ]);
  });

  it('keeps GPIO, framebuffer and printer reachable and the V8 JIT working', () => {
    expect(values('PrivateDevices')).toEqual([]);
    expect(values('MemoryDenyWriteExecute')).toEqual(['no']);
    expect(values('ProtectKernelTunables')).toEqual(['no']);
    expect(values('DevicePolicy')).toEqual(['closed']);
    expect(values('DeviceAllow')).toEqual(
      expect.arrayContaining(['char-fb rw', 'char-usb rw', 'char-gpiochip rw']),
    );
  });

  const unavailable = analyzeUnavailable();
  describe.skipIf(unavailable !== undefined)(
    `systemd-analyze${unavailable ? ` (skipped: ${unavailable})` : ''}`,
    () => {
      it('verify prints nothing (unknown keys and bad values only warn, so any output fails)', () => {
        const run = spawnSync('systemd-analyze', ['verify', UNIT], { encoding: 'utf8' });
        expect(run.stderr).toBe('');
        expect(run.stdout).toBe('');
        expect(run.status).toBe(0);
      });

      it('security --offline scores an exposure of 1.9 or lower', () => {
        const run = spawnSync(
          'systemd-analyze',
          ['security', '--offline=yes', '--threshold=19', '--no-pager', UNIT],
          { encoding: 'utf8' },
        );
        const match = /Overall exposure level for seqr-vend\.service: (\d+\.\d)/.exec(run.stdout);
        expect(match, run.stdout + run.stderr).not.toBeNull();
        expect(Number(match![1])).toBeLessThanOrEqual(1.9);
        expect(run.status).toBe(0);
      });
    },
  );
});
