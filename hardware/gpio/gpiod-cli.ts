import type { Bias, EdgeKind, Level } from './gpio.js';
import { HEADER_LABELS } from './sysfs-map.js';

/**
 * Pure command-line building and output parsing for the libgpiod tools. The command lines
 * changed between v1 (Bookworm: libgpiod 1.6) and v2 (Trixie: libgpiod 2.x), so every builder
 * takes the detected major version.
 */
export type GpiodVersion = 1 | 2;

/** `gpiodetect (libgpiod) v1.6.3` / `gpiodetect (libgpiod) v2.2.1` -> 1 / 2. */
export function parseGpiodVersion(text: string): GpiodVersion | undefined {
  const match = /\bv?(\d+)\.(\d+)/.exec(text);
  const major = Number(match?.[1]);
  return major === 1 || major === 2 ? major : undefined;
}

/** A chip as `gpiodetect` lists it. */
export interface GpiodChip {
  /** e.g. `gpiochip0` (what the tools accept as the chip argument). */
  readonly name: string;
  readonly label: string;
  readonly lines: number;
}

/** Parses `gpiodetect` output (the same in v1 and v2): `gpiochip0 [pinctrl-bcm2711] (58 lines)`. */
export function parseGpiodetect(text: string): GpiodChip[] {
  const chips: GpiodChip[] = [];
  for (const line of text.split('\n')) {
    const match = /^(\S+)\s+\[([^\]]*)\]\s+\((\d+) lines?\)/.exec(line.trim());
    if (match?.[1] && match[2] !== undefined && match[3])
      chips.push({ name: match[1], label: match[2], lines: Number(match[3]) });
  }
  return chips;
}

/**
 * The header chip by label (Pi 5 RP1 first), or by the configured label or name. Chip numbers
 * move between kernels (gpiochip4 -> gpiochip0 -> gpiochip10+), so never by number alone.
 */
export function pickHeaderChip(
  chips: readonly GpiodChip[],
  wanted?: string,
): GpiodChip | undefined {
  if (wanted !== undefined) return chips.find((c) => c.label === wanted || c.name === wanted);
  for (const label of HEADER_LABELS) {
    const chip = chips.find((c) => c.label === label);
    if (chip) return chip;
  }
  return undefined;
}

function biasV1(bias: Bias): string[] {
  return bias === 'as-is' ? [] : [`--bias=${bias}`];
}

function biasV2(bias: Bias): string[] {
  if (bias === 'as-is') return [];
  return ['--bias', bias === 'disable' ? 'disabled' : bias];
}

/** `gpiomon` arguments that print one line per edge: offset, edge, monotonic timestamp. */
export function gpiomonArgs(
  version: GpiodVersion,
  chip: string,
  offset: number,
  bias: Bias,
  edge: EdgeKind,
): string[] {
  if (version === 1) {
    const edges =
      edge === 'rising' ? ['--rising-edge'] : edge === 'falling' ? ['--falling-edge'] : [];
    return [
      '--line-buffered',
      ...biasV1(bias),
      ...edges,
      '--format=%o %e %s %n',
      chip,
      String(offset),
    ];
  }
  return [
    '--chip',
    chip,
    ...biasV2(bias),
    '--edges',
    edge,
    '--event-clock',
    'monotonic',
    '--format',
    '%o %E %S',
    String(offset),
  ];
}

/** `gpioget` arguments that print the line's level. */
export function gpiogetArgs(
  version: GpiodVersion,
  chip: string,
  offset: number,
  bias: Bias,
): string[] {
  return version === 1
    ? [...biasV1(bias), chip, String(offset)]
    : ['--chip', chip, ...biasV2(bias), '--numeric', String(offset)];
}

/** `gpioset` arguments that drive `level` and hold the line until the process is signalled. */
export function gpiosetArgs(
  version: GpiodVersion,
  chip: string,
  offset: number,
  level: Level,
): string[] {
  return version === 1
    ? ['--mode=signal', chip, `${offset}=${level}`]
    : ['--chip', chip, '--banner', `${offset}=${level}`];
}

/** Parses `gpioget` output: `1` (v1, v2 `--numeric`) or `"17"=active` (v2 default). */
export function parseGpioget(text: string): Level | undefined {
  const t = text.trim();
  if (t === '1' || /=active$/.test(t)) return 1;
  if (t === '0' || /=inactive$/.test(t)) return 0;
  return undefined;
}

/** One edge from `gpiomon`, with the kernel's CLOCK_MONOTONIC timestamp in nanoseconds. */
export interface GpiomonEvent {
  readonly offset: number;
  readonly level: Level;
  readonly monotonicNs: bigint;
}

/**
 * Parses one line of `gpiomon` output as formatted by {@link gpiomonArgs}:
 * v1 `17 1 1234 567890123` (1 = rising, 0 = falling); v2 `17 rising 1234.567890123`.
 */
export function parseGpiomonLine(version: GpiodVersion, line: string): GpiomonEvent | undefined {
  const parts = line.trim().split(/\s+/);
  if (version === 1) {
    const [offset, edge, sec, nsec] = parts;
    if (!offset || !sec || !nsec || (edge !== '0' && edge !== '1')) return undefined;
    if (!/^\d+$/.test(offset) || !/^\d+$/.test(sec) || !/^\d+$/.test(nsec)) return undefined;
    return {
      offset: Number(offset),
      level: edge === '1' ? 1 : 0,
      monotonicNs: BigInt(sec) * 1_000_000_000n + BigInt(nsec),
    };
  }
  const [offset, edge, stamp] = parts;
  const ts = /^(\d+)\.(\d{1,9})$/.exec(stamp ?? '');
  if (!offset || !/^\d+$/.test(offset) || !ts?.[1] || !ts[2]) return undefined;
  if (edge !== 'rising' && edge !== 'falling') return undefined;
  return {
    offset: Number(offset),
    level: edge === 'rising' ? 1 : 0,
    monotonicNs: BigInt(ts[1]) * 1_000_000_000n + BigInt(ts[2].padEnd(9, '0')),
  };
}
