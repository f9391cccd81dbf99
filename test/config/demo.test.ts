import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { demoConfig } from '../../config/demo.js';

describe('demoConfig', () => {
  it('is a valid demo-mode configuration with virtual hardware and the kiosk page on', () => {
    const config = demoConfig({}, '/home/dev/seqr-vend');
    expect(config.mode).toBe('demo');
    expect(config.gpio.backend).toBe('fake');
    expect(config.kiosk.enabled).toBe(true);
    expect(config.products.length).toBeGreaterThanOrEqual(4);
    expect(config.products.every((p) => Number.isInteger(p.priceMinor) && p.priceMinor > 0)).toBe(
      true,
    );
    expect(Object.isFrozen(config.products)).toBe(true);
  });

  it('keeps its state under the working directory unless systemd gives directories', () => {
    expect(demoConfig({}, '/home/dev/x').stateDirectory).toBe(path.join('/home/dev/x', '.state'));
    const underSystemd = demoConfig(
      { STATE_DIRECTORY: '/var/lib/seqr-vend', RUNTIME_DIRECTORY: '/run/seqr-vend' },
      '/',
    );
    expect(underSystemd.stateDirectory).toBe('/var/lib/seqr-vend');
    expect(underSystemd.control.socketPath).toBe('/run/seqr-vend/control.sock');
  });
});
