// Per-call SEQR deadlines: defaults, the key configurations from before them used, and the rule
// that keeps enough status polls inside SEQR's 20 s reversal window when every one of them hangs.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkConfig, ConfigError, parseConfigText } from '../../config/load.js';
import {
  maxPollDeadlineMs,
  POLLS_PER_REVERSAL_WINDOW,
  SEQR_DEADLINE_DEFAULTS,
  SEQR_REVERSAL_MS,
} from '../../config/schema.js';
import { MINIMAL_CONFIG } from './minimal.js';

const EXAMPLE = path.join(import.meta.dirname, '../../config/example.config.yaml');

const withSeqr = (seqr: string, extra = ''): string => `${MINIMAL_CONFIG}seqr:\n${seqr}${extra}`;

function errorsOf(text: string): readonly string[] {
  try {
    parseConfigText(text, 'config.yaml', {});
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).lines;
  }
  throw new Error('expected the configuration to be rejected');
}

describe('seqr.deadlines', () => {
  it('defaults every call the daemon makes; the status poll fits the rule at the default interval', () => {
    const config = parseConfigText(MINIMAL_CONFIG, 'config.yaml', {});
    expect(config.seqr.deadlines).toEqual(SEQR_DEADLINE_DEFAULTS);
    expect(config.seqr.deadlines.getPaymentStatus).toBeLessThanOrEqual(maxPollDeadlineMs(1_000));
    expect(
      POLLS_PER_REVERSAL_WINDOW * (config.seqr.deadlines.getPaymentStatus + 1_000),
    ).toBeLessThanOrEqual(SEQR_REVERSAL_MS);
  });

  it('takes each call its own deadline', () => {
    const config = parseConfigText(
      withSeqr('  deadlines:\n    cancelInvoice: 2000\n    getPaymentStatus: 4000\n'),
      'config.yaml',
      {},
    );
    expect(config.seqr.deadlines).toMatchObject({
      cancelInvoice: 2_000,
      getPaymentStatus: 4_000,
      sendInvoice: SEQR_DEADLINE_DEFAULTS.sendInvoice,
    });
  });

  it('an upgraded configuration with the single seqr.deadlineMs: 10000 still loads; polls stay bounded', () => {
    const config = parseConfigText(withSeqr('  deadlineMs: 10000\n'), 'config.yaml', {});
    const { getPaymentStatus, ...others } = config.seqr.deadlines;
    expect(getPaymentStatus).toBe(SEQR_DEADLINE_DEFAULTS.getPaymentStatus);
    expect(new Set(Object.values(others))).toEqual(new Set([10_000]));
  });

  it('seqr.deadlineMs shorter than the poll default shortens the poll too; an own entry wins', () => {
    const short = parseConfigText(withSeqr('  deadlineMs: 2000\n'), 'config.yaml', {});
    expect(new Set(Object.values(short.seqr.deadlines))).toEqual(new Set([2_000]));
    const own = parseConfigText(
      withSeqr('  deadlineMs: 2000\n  deadlines:\n    executeReport: 60000\n'),
      'config.yaml',
      {},
    );
    expect(own.seqr.deadlines.executeReport).toBe(60_000);
    expect(own.seqr.deadlines.refundPayment).toBe(2_000);
  });

  it('refuses a status-poll deadline that lets 4 hung polls outlast the reversal window, naming the key', () => {
    expect(errorsOf(withSeqr('  deadlines:\n    getPaymentStatus: 6000\n'))).toEqual([
      'config.yaml:16: seqr.deadlines.getPaymentStatus: 6000 is too long: 4 status polls that each hang ' +
        'take 4 × (6000 ms deadline + 1000 ms poll interval) = 28000 ms, longer than the 20000 ms after ' +
        'which SEQR reverses a payment no poll has seen; at most 4000 with timeouts.pollIntervalMs 1000',
    ]);
  });

  it('accepts the longest deadline the rule allows, and counts a longer poll interval against it', () => {
    expect(() =>
      parseConfigText(withSeqr('  deadlines:\n    getPaymentStatus: 4000\n'), 'config.yaml', {}),
    ).not.toThrow();
    const lines = errorsOf(
      withSeqr('  deadlines:\n    getPaymentStatus: 4000\n', 'timeouts:\n  pollIntervalMs: 1500\n'),
    );
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^config\.yaml:16: seqr\.deadlines\.getPaymentStatus: 4000 is too long: .* = 22000 ms, .*; at most 3500 with timeouts\.pollIntervalMs 1500$/,
    );
  });

  it('blames the poll interval when the poll deadline is the default', () => {
    const lines = errorsOf(`${MINIMAL_CONFIG}timeouts:\n  pollIntervalMs: 2500\n`);
    expect(lines).toEqual([
      expect.stringMatching(
        /^config\.yaml:\d+: timeouts\.pollIntervalMs: 2500 is too long for the status poll's 3000 ms deadline: .* = 22000 ms, .*; SEQR's rule is one poll per second$/,
      ),
    ]);
  });

  it('names an unknown call and a deadline out of range', () => {
    const lines = errorsOf(
      withSeqr('  deadlines:\n    sendInvoce: 3000\n    cancelInvoice: 500\n'),
    );
    expect(lines).toEqual([
      'config.yaml:16: seqr.deadlines.sendInvoce: unknown key',
      'config.yaml:17: seqr.deadlines.cancelInvoice: 500 is below the minimum 1000',
    ]);
  });
});

describe('check-config and the example configuration', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'seqr-deadlines-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('check-config refuses a poll deadline that breaks the rule (exit 78)', async () => {
    const file = path.join(dir, 'config.yaml');
    writeFileSync(file, withSeqr('  deadlines:\n    getPaymentStatus: 9000\n'));
    const result = await checkConfig(file, {});
    expect(result.ok).toBe(false);
    expect(result.lines).toEqual([
      expect.stringContaining(`${file}:16: seqr.deadlines.getPaymentStatus: 9000 is too long`),
    ]);
  });

  it('the example lists every call with its default deadline', () => {
    const text = readFileSync(EXAMPLE, 'utf8');
    for (const [key, ms] of Object.entries(SEQR_DEADLINE_DEFAULTS))
      expect(text).toMatch(new RegExp(`\\n {4}${key}: ${ms}\\b`));
    expect(text).not.toMatch(/\n {2}deadlineMs:/);
  });
});
