import { describe, expect, it } from 'vitest';
import { VendError } from '../../daemon/errors.js';
import { createLogger, isJournalStream, SecretSet } from '../../daemon/log.js';

function capture(): { lines: string[]; sink: { write(chunk: string): void } } {
  const lines: string[] = [];
  return {
    lines,
    sink: {
      write(chunk: string) {
        lines.push(chunk);
      },
    },
  };
}

describe('createLogger under journald', () => {
  it('prefixes every level with its syslog priority, one line per record', () => {
    const { lines, sink } = capture();
    const log = createLogger({ level: 'trace', journald: true, destination: sink });
    log.trace('t');
    log.debug('d');
    log.info('i');
    log.warn('w');
    log.error('e');
    log.fatal('f');
    expect(lines.map((l) => l.slice(0, 3))).toEqual(['<7>', '<7>', '<6>', '<4>', '<3>', '<2>']);
    for (const line of lines) {
      expect(line.endsWith('\n')).toBe(true);
      expect(line.slice(0, -1)).not.toContain('\n');
      expect(() => JSON.parse(line.slice(3)) as unknown).not.toThrow();
    }
    expect(lines.map((l) => (JSON.parse(l.slice(3)) as { msg: string }).msg)).toEqual([
      't',
      'd',
      'i',
      'w',
      'e',
      'f',
    ]);
  });

  it('keeps a multi-line message and an error stack on one line', () => {
    const { lines, sink } = capture();
    const log = createLogger({ level: 'info', journald: true, destination: sink });
    log.error(
      { err: new VendError('E_SEQR_TIMEOUT', 'no answer\nafter 10 s') },
      'call failed\nsecond line',
    );
    expect(lines).toHaveLength(1);
    const record = JSON.parse(lines[0]!.slice(3)) as {
      msg: string;
      err: { code: string; stack: string };
    };
    expect(record.msg).toBe('call failed\nsecond line');
    expect(record.err.code).toBe('E_SEQR_TIMEOUT');
    expect(record.err.stack).toContain('no answer');
  });

  it('honours the level: debug records are dropped at info', () => {
    const { lines, sink } = capture();
    const log = createLogger({ level: 'info', journald: true, destination: sink });
    log.debug('hidden');
    log.child({ component: 'printer' }).warn({ slot: 2 }, 'paper low');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!.slice(3))).toMatchObject({
      component: 'printer',
      slot: 2,
      msg: 'paper low',
    });
  });
});

describe('createLogger outside systemd', () => {
  it('writes plain JSON without prefixes', () => {
    const { lines, sink } = capture();
    const log = createLogger({ level: 'info', journald: false, destination: sink });
    log.info({ slot: 1 }, 'relay pulsed');
    expect(lines[0]!.startsWith('{')).toBe(true);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 30, slot: 1, msg: 'relay pulsed' });
  });

  it('writes readable lines in pretty mode', () => {
    const { lines, sink } = capture();
    const log = createLogger({ level: 'info', pretty: true, journald: false, destination: sink });
    log.child({ component: 'seqr' }).warn({ invoice: 'R1' }, 'status poll late');
    expect(lines[0]).toMatch(/WARN .*\[seqr\] status poll late invoice=R1\n$/);
  });

  it('detects the journal stream only when $JOURNAL_STREAM names stdout, or $INVOCATION_ID is set', () => {
    expect(isJournalStream({})).toBe(false);
    expect(isJournalStream({ JOURNAL_STREAM: '1:1' })).toBe(false);
    expect(isJournalStream({ INVOCATION_ID: 'abc' })).toBe(true);
  });
});

describe('secrets never reach the log', () => {
  it('a full logging scenario leaves no trace of the terminal password in any output', () => {
    const password = 'T3rm!nal"Pa$$\\word';
    const secrets = new SecretSet();
    secrets.add(password);
    for (const journald of [true, false]) {
      for (const pretty of [false, true]) {
        const { lines, sink } = capture();
        const log = createLogger({ level: 'trace', journald, pretty, destination: sink, secrets });
        const seqr = log.child({ component: 'seqr' });
        seqr.info({ password }, 'registered');
        seqr.debug(
          { request: { context: { initiatorPrincipalId: { id: 't1' }, password } } },
          'request',
        );
        seqr.debug({ context: { password } }, 'context');
        seqr.info({ credentials: { terminal: password } }, 'credentials loaded');
        seqr.info({ headers: { authorization: `Basic ${password}` } }, 'http');
        seqr.info({ terminalPassword: password, nested: { password } }, 'config');
        seqr.error(
          {
            err: new VendError('E_SEQR_AUTH', `refused <password>${password}</password>`, {
              cause: new Error(`body: ${password}`),
            }),
          },
          'login failed',
        );
        seqr.warn(`message text with ${password} inside`);
        seqr.fatal({ body: `<soap>${JSON.stringify({ password })}</soap>` }, 'fatal');
        const all = lines.join('');
        expect(lines.length).toBe(9);
        expect(all).not.toContain(password);
        expect(all).not.toContain(JSON.stringify(password).slice(1, -1));
        expect(all).not.toContain('Pa$$');
        expect(all).toContain('[REDACTED]');
      }
    }
  });

  it('refuses to scrub values too short to be a secret', () => {
    expect(() => {
      new SecretSet().add('abc');
    }).toThrow(RangeError);
  });
});

describe('SecretSet', () => {
  it('scrubs the secret as written, XML-escaped (a SOAP body) and escaped twice (a fault quoting it), raw or JSON-escaped', () => {
    const secrets = new SecretSet();
    const secret = `p&w<"o'>rd`;
    secrets.add(secret);
    const xml = 'p&amp;w&lt;&quot;o&apos;&gt;rd';
    const xml2 = 'p&amp;amp;w&amp;lt;&amp;quot;o&amp;apos;&amp;gt;rd';
    for (const form of [secret, xml, xml2]) {
      const json = JSON.stringify(form).slice(1, -1);
      const json2 = JSON.stringify(json).slice(1, -1);
      for (const shown of [form, json, json2])
        expect(secrets.scrub(`before ${shown} after`)).toBe('before [REDACTED] after');
    }
  });
});
