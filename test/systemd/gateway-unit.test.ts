// systemd/seqr-vend-gateway.service: runs the gateway command with its own config and credential
// directory, as a dynamic user, stays failed on an invalid config, and is tightly sandboxed.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXIT_CONFIG } from '../../config/load.js';
import {
  DEFAULT_GATEWAY_CONFIG_PATH,
  GATEWAY_CREDENTIALS_DIRECTORY,
} from '../../daemon/gateway/config.js';

const UNIT = path.join(import.meta.dirname, '../../systemd/seqr-vend-gateway.service');
const text = readFileSync(UNIT, 'utf8');

function values(key: string): string[] {
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${key}=`))
    .map((line) => line.slice(key.length + 1));
}

const analyze = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
const unavailable = analyze.error !== undefined || analyze.status !== 0;

describe('systemd/seqr-vend-gateway.service', () => {
  it('runs `seqr-vend gateway` on its own config, loading the whole credential directory', () => {
    expect(values('ExecStart')[0]).toMatch(
      new RegExp(`dist/daemon/main\\.js gateway --config ${DEFAULT_GATEWAY_CONFIG_PATH}$`),
    );
    expect(values('LoadCredential')).toEqual([`gateway:${GATEWAY_CREDENTIALS_DIRECTORY}`]);
    expect(values('DynamicUser')).toEqual(['yes']);
    expect(values('Restart')).toEqual(['on-failure']);
    expect(values('RestartPreventExitStatus')).toEqual([String(EXIT_CONFIG)]);
  });

  describe.skipIf(unavailable)('systemd-analyze', () => {
    it('verify prints nothing', () => {
      const run = spawnSync('systemd-analyze', ['verify', UNIT], { encoding: 'utf8' });
      expect(run.stderr).toBe('');
      expect(run.stdout).toBe('');
      expect(run.status).toBe(0);
    });

    it('security --offline scores an exposure of 2.0 or lower', () => {
      const run = spawnSync('systemd-analyze', ['security', '--offline=yes', '--no-pager', UNIT], {
        encoding: 'utf8',
      });
      const match = /Overall exposure level for seqr-vend-gateway\.service: (\d+\.\d)/.exec(
        run.stdout,
      );
      expect(match, run.stdout + run.stderr).not.toBeNull();
      expect(Number(match![1])).toBeLessThanOrEqual(2.0);
    });
  });
});
