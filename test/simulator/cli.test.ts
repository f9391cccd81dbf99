import { describe, expect, it } from 'vitest';
import { banner, parseSimulatorArgs } from '../../simulator/cli.js';
import { startSimulator } from '../../simulator/index.js';

describe('npm run sim arguments', () => {
  it('defaults to 127.0.0.1:8913 and a 20 s reversal', () => {
    expect(parseSimulatorArgs([], {})).toEqual({
      host: '127.0.0.1',
      port: 8913,
      reversalMs: 20_000,
    });
  });

  it('takes arguments over the environment', () => {
    const options = parseSimulatorArgs(
      ['--port', '9000', '--reversal-ms', '5000', '--terminal-id', 'abc', '--no-ack-default'],
      { SEQR_SIM_PORT: '1', SEQR_SIM_HOST: '127.0.0.2', SEQR_SIM_TERMINAL_PASSWORD: 'pw-1234' },
    );
    expect(options).toEqual({
      host: '127.0.0.2',
      port: 9000,
      reversalMs: 5000,
      missingAckMode: 'NO_ACKNOWLEDGMENT',
      terminal: { id: 'abc', password: 'pw-1234' },
    });
  });

  it('refuses bad numbers and unknown options', () => {
    expect(() => parseSimulatorArgs(['--port', 'x'], {})).toThrow(/port must be/);
    expect(() => parseSimulatorArgs([], { SEQR_SIM_REVERSAL_MS: '-1' })).toThrow(/reversal-ms/);
    expect(() => parseSimulatorArgs(['--nope'], {})).toThrow();
  });

  it('prints everything a SOAP client needs', async () => {
    const sim = await startSimulator();
    try {
      const text = banner(sim, 20_000);
      for (const part of [
        sim.soapUrl,
        sim.wsdlUrl,
        sim.controlUrl,
        sim.terminal.id,
        sim.terminal.password,
        sim.reseller.id,
        sim.reseller.userId,
        sim.reseller.password,
      ])
        expect(text).toContain(part);
    } finally {
      await sim.close();
    }
  });
});
