import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { VendError } from '../../daemon/errors.js';

/** Header chip labels, most specific board first: Pi 5 (RP1), Pi 4, Pi 3 / Zero 2 W and older. */
export const HEADER_LABELS = ['pinctrl-rp1', 'pinctrl-bcm2711', 'pinctrl-bcm2835'] as const;

/** The sysfs chip that carries the 40-pin header. */
export interface HeaderChip {
  /** The chip's label, or `override` when `sysfsBase` came from the config. */
  readonly label: string;
  /** Global sysfs number of the chip's line 0 (the suffix of `gpiochipN`, not /dev/gpiochipN). */
  readonly base: number;
  /** Lines on the chip; BCM numbers must be below it. */
  readonly ngpio: number;
}

async function readTrimmed(file: string): Promise<string | undefined> {
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch {
    return undefined;
  }
}

/**
 * Finds the header chip under `root` (default `/sys/class/gpio`) by label, never by number or
 * size (a Pi 5 also has `gpio-brcmstb@...` chips with many lines). With `sysfsBase` from the
 * config the tree is not read at all. Rejects E_GPIO_UNAVAILABLE when `root` cannot be listed and
 * E_GPIO_CHIP_NOT_FOUND, naming every label seen, when no known label is present.
 */
export async function findHeaderChip(
  root = '/sys/class/gpio',
  sysfsBase?: number,
): Promise<HeaderChip> {
  if (sysfsBase !== undefined) {
    if (!Number.isInteger(sysfsBase) || sysfsBase < 0)
      throw new TypeError(`"sysfsBase" must be an integer >= 0: ${String(sysfsBase)}`);
    return { label: 'override', base: sysfsBase, ngpio: 64 };
  }
  let entries: string[];
  try {
    entries = await readdir(root);
  } catch (err) {
    throw new VendError('E_GPIO_UNAVAILABLE', `cannot list ${root}: no sysfs GPIO on this kernel`, {
      cause: err,
    });
  }
  const chips: HeaderChip[] = [];
  for (const entry of entries.filter((e) => /^gpiochip\d+$/.test(e)).sort()) {
    const dir = path.join(root, entry);
    const label = await readTrimmed(path.join(dir, 'label'));
    const base = Number(await readTrimmed(path.join(dir, 'base')));
    const ngpio = Number(await readTrimmed(path.join(dir, 'ngpio')));
    if (label !== undefined && Number.isInteger(base) && Number.isInteger(ngpio))
      chips.push({ label, base, ngpio });
  }
  for (const wanted of HEADER_LABELS) {
    const chip = chips.find((c) => c.label === wanted);
    if (chip) return chip;
  }
  const seen = chips.map((c) => `${c.label} (base ${c.base})`).join(', ') || 'none';
  throw new VendError(
    'E_GPIO_CHIP_NOT_FOUND',
    `no GPIO chip labelled ${HEADER_LABELS.join(', ')} under ${root}; labels seen: ${seen}. ` +
      'Set gpio.sysfsBase to override.',
  );
}

/** The global sysfs number of BCM pin `bcm`. Throws E_GPIO_LINE when the chip has no such line. */
export function sysfsNumber(chip: HeaderChip, bcm: number): number {
  if (!Number.isInteger(bcm) || bcm < 0 || bcm >= chip.ngpio)
    throw new VendError(
      'E_GPIO_LINE',
      `GPIO${String(bcm)} is outside ${chip.label} (${chip.ngpio} lines)`,
    );
  return chip.base + bcm;
}
