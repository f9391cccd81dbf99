import { describe, expect, it } from 'vitest';
import type { Screen } from '../../daemon/ports/display.js';
import { SAMPLE_SCREENS, SAMPLE_VARIANTS } from '../../hardware/display/sample-screens.js';
import {
  DISPLAY_LOCALES,
  formatClock,
  formatMoney,
  screenText,
  TABLE_CURRENCIES,
  type ScreenText,
} from '../../hardware/display/screen-text.js';

const nbsp = (s: string): string => s.replace(/\u00a0/g, ' ');

function allWords(t: ScreenText): string[] {
  return [
    t.title,
    ...t.lines,
    t.product?.price ?? '',
    ...(t.products ?? []).map((p) => p.price),
    t.payment?.timeLeft ?? '',
  ].filter((s) => s !== '');
}

describe('formatMoney', () => {
  it('formats for the locale and currency from integer minor units', () => {
    expect(nbsp(formatMoney({ minor: 2500, currency: 'SEK' }, 'sv'))).toBe('25,00 kr');
    expect(formatMoney({ minor: 250, currency: 'EUR' }, 'en')).toBe('€2.50');
    expect(nbsp(formatMoney({ minor: 250, currency: 'EUR' }, 'sv'))).toBe('2,50 €');
    expect(nbsp(formatMoney({ minor: 150000, currency: 'SEK' }, 'en'))).toBe('SEK 1,500.00');
    expect(nbsp(formatMoney({ minor: 7, currency: 'SEK' }, 'sv'))).toBe('0,07 kr');
  });

  it('writes the tabled currencies exactly as Intl.NumberFormat does, without loading it; others through Intl', () => {
    const amounts = [0, 5, 99, 100, 2500, 99999, 100000, 123456789, 100000000000005];
    for (const locale of DISPLAY_LOCALES)
      for (const currency of [...TABLE_CURRENCIES, 'JPY', 'PLN', 'ISK'])
        for (const minor of amounts) {
          const intl = new Intl.NumberFormat(locale === 'sv' ? 'sv-SE' : 'en-GB', {
            style: 'currency',
            currency,
          }).format(
            `${Math.trunc(minor / 100)}.${String(minor % 100).padStart(2, '0')}` as `${number}`,
          );
          expect(formatMoney({ minor, currency }, locale), `${locale} ${currency} ${minor}`).toBe(
            intl,
          );
        }
  });

  it('is exact for amounts a float would round', () => {
    expect(formatMoney({ minor: 100000000000005, currency: 'EUR' }, 'en')).toBe(
      '€1,000,000,000,000.05',
    );
  });
});

describe('formatClock', () => {
  it('shows minutes and seconds, rounding partial seconds up and never negative', () => {
    expect(formatClock(42)).toBe('0:42');
    expect(formatClock(60)).toBe('1:00');
    expect(formatClock(0.2)).toBe('0:01');
    expect(formatClock(-3)).toBe('0:00');
    expect(formatClock(605)).toBe('10:05');
  });
});

describe('screenText', () => {
  const screens = [...Object.values(SAMPLE_SCREENS), ...Object.values(SAMPLE_VARIANTS)];

  it.each(DISPLAY_LOCALES)('says every screen in customer words (%s)', (locale) => {
    for (const screen of screens) {
      const text = screenText(screen, locale);
      expect(text.title.length).toBeGreaterThan(0);
      for (const word of allWords(text)) {
        expect(word, screen.kind).not.toMatch(/\bE_[A-Z_]+|[a-z][A-Z]|undefined|NaN|\[object/);
      }
    }
  });

  it('uses different words per language, with the same structure', () => {
    for (const screen of screens) {
      const en = screenText(screen, 'en');
      const sv = screenText(screen, 'sv');
      expect(sv.title, screen.kind).not.toBe(en.title);
      expect(sv.lines.length).toBe(en.lines.length);
      expect(Boolean(sv.payment)).toBe(Boolean(en.payment));
    }
  });

  it('shows the price, time left and payload on the pay screen', () => {
    const t = screenText(SAMPLE_SCREENS.pay, 'sv');
    expect(nbsp(t.product?.price ?? '')).toBe('25,00 kr');
    expect(t.payment).toEqual({
      qrPayload: 'HTTP://SEQR.SE/R20151029186719114',
      timeLeft: '0:42 kvar',
      fractionLeft: 42 / 60,
    });
    expect(screenText(SAMPLE_SCREENS.pay, 'en').payment?.timeLeft).toBe('0:42 left');
  });

  it('clamps the fraction of time left', () => {
    const pay = SAMPLE_SCREENS.pay as Extract<Screen, { kind: 'pay' }>;
    expect(screenText({ ...pay, secondsLeft: 90 }, 'en').payment?.fractionLeft).toBe(1);
    expect(screenText({ ...pay, secondsLeft: -1 }, 'en').payment?.fractionLeft).toBe(0);
    expect(screenText({ ...pay, totalSeconds: 0 }, 'en').payment?.fractionLeft).toBe(1);
  });

  it('marks sold-out products in words, not with a price', () => {
    const rows = screenText(SAMPLE_SCREENS.idle, 'sv').products ?? [];
    expect(rows.find((r) => r.button === '3')).toMatchObject({ price: 'Slutsåld', soldOut: true });
    expect(screenText(SAMPLE_SCREENS.idle, 'en').products?.[2]?.price).toBe('Sold out');
  });

  it('marks a product the operator took off sale as unavailable, not with a price', () => {
    const idle = SAMPLE_VARIANTS['idle-unavailable'];
    const row = (locale: 'en' | 'sv') =>
      screenText(idle, locale).products?.find((r) => r.button === '4');
    expect(row('en')).toMatchObject({ price: 'Not available', soldOut: true });
    expect(row('sv')).toMatchObject({ price: 'Ej tillgänglig', soldOut: true });
  });

  it('says the machine is being serviced in maintenance mode', () => {
    const screen = SAMPLE_VARIANTS['outOfService-maintenance'];
    expect(screenText(screen, 'en')).toMatchObject({
      title: 'Out of service',
      lines: ['This machine is being serviced', 'We will be back shortly'],
    });
    expect(screenText(screen, 'sv').lines[0]).toBe('Maskinen får service');
  });

  it('tells the customer about the refund in each refund state', () => {
    const base = SAMPLE_SCREENS.notDelivered as Extract<Screen, { kind: 'notDelivered' }>;
    const lines = (['refunding', 'refunded', 'pending'] as const).map(
      (refund) => screenText({ ...base, refund }, 'en').lines[1],
    );
    expect(new Set(lines).size).toBe(3);
    expect(lines[1]).toMatch(/returned/);
  });

  it('never shows the reason code of an out-of-service screen', () => {
    for (const reason of [
      'seqrUnreachable',
      'seqrCredentials',
      'hardwareFault',
      'starting',
    ] as const) {
      const t = screenText({ kind: 'outOfService', reason, machineName: 'M' }, 'en');
      expect(t.lines.join(' ')).not.toContain(reason);
    }
  });

  it('says there is nothing for sale when there are no products', () => {
    expect(screenText({ kind: 'idle', machineName: 'M', products: [] }, 'en').lines).toEqual([
      'Nothing for sale right now',
    ]);
  });
});
