import type { Screen } from '../../daemon/ports/display.js';
import { SAMPLE_VARIANTS, type SampleName } from './sample-screens.js';
import type { DisplayLocale } from './screen-text.js';

const ALL_KINDS = [
  'idle',
  'preparing',
  'pay',
  'stillPaying',
  'cancelling',
  'dispensing',
  'thankYou',
  'notDelivered',
  'cancelled',
  'problem',
  'outOfService',
  'upsIdle',
  'upsConfirm',
  'upsChoose',
  'upsSettle',
] as const satisfies readonly Screen['kind'][];

/**
 * Which samples have golden images at which resolution: every kind and variant at 800x480, the
 * pay screen at more.
 */
export const GOLDEN_SETS: readonly {
  readonly width: number;
  readonly height: number;
  readonly kinds: readonly SampleName[];
}[] = [
  {
    width: 800,
    height: 480,
    kinds: [...ALL_KINDS, ...(Object.keys(SAMPLE_VARIANTS) as (keyof typeof SAMPLE_VARIANTS)[])],
  },
  { width: 480, height: 320, kinds: ['idle', 'pay'] },
  { width: 480, height: 800, kinds: ['idle', 'pay', 'upsIdle'] },
  { width: 320, height: 240, kinds: ['pay'] },
];

export function goldenName(
  kind: SampleName,
  locale: DisplayLocale,
  width: number,
  height: number,
): string {
  return `${kind}-${locale}-${width}x${height}.png`;
}
