import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile, writeFile, access, mkdir } from 'node:fs/promises';
import { constants } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { SysfsIo } from '../../../hardware/gpio/sysfs-gpio.js';

export interface ChipSpec {
  readonly label: string;
  readonly base: number;
  readonly ngpio: number;
}

/** Chip layouts seen on real boards (see hardware-and-ops.md Q1). */
export const LAYOUTS = {
  pi3Legacy: [{ label: 'pinctrl-bcm2835', base: 0, ngpio: 54 }],
  pi3: [
    { label: 'pinctrl-bcm2835', base: 512, ngpio: 54 },
    { label: 'raspberrypi-exp-gpio', base: 566, ngpio: 8 },
  ],
  pi4: [
    { label: 'raspberrypi-exp-gpio', base: 570, ngpio: 8 },
    { label: 'pinctrl-bcm2711', base: 512, ngpio: 58 },
  ],
  pi5: [
    { label: 'gpio-brcmstb@107d508500', base: 512, ngpio: 32 },
    { label: 'gpio-brcmstb@107d508520', base: 544, ngpio: 4 },
    { label: 'pinctrl-rp1', base: 571, ngpio: 54 },
    { label: 'gpio-brcmstb@107d517c00', base: 625, ngpio: 17 },
  ],
  unknown: [
    { label: 'gpio-mockup-A', base: 512, ngpio: 8 },
    { label: 'tegra234-gpio', base: 348, ngpio: 164 },
  ],
} satisfies Record<string, ChipSpec[]>;

/** A temp sysfs GPIO tree with the given chips, plus export/unexport files. */
export function makeSysfsTree(chips: readonly ChipSpec[]): { root: string; cleanup: () => void } {
  const root = mkdtempSync(path.join(os.tmpdir(), 'seqr-sysfs-'));
  for (const chip of chips) {
    const dir = path.join(root, `gpiochip${chip.base}`);
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'label'), `${chip.label}\n`);
    writeFileSync(path.join(dir, 'base'), `${chip.base}\n`);
    writeFileSync(path.join(dir, 'ngpio'), `${chip.ngpio}\n`);
  }
  writeFileSync(path.join(root, 'export'), '');
  writeFileSync(path.join(root, 'unexport'), '');
  return {
    root,
    cleanup: () => {
      rmSync(root, { recursive: true, force: true });
    },
  };
}

function errno(code: string): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(`${code}: emulated`);
  err.code = code;
  return err;
}

/**
 * File access over a fake tree that behaves like the kernel's sysfs GPIO: writing N to `export`
 * creates `gpioN/` (EINVAL for a number outside every chip, EBUSY when exported already);
 * `direction` accepts in/out/high/low (high/low set the value atomically); values are 0/1.
 * `writes` records every write, to check that no glitch was driven.
 */
export function kernelIo(
  root: string,
  chips: readonly ChipSpec[],
): SysfsIo & { writes: string[]; idle: () => Promise<void> } {
  const writes: string[] = [];
  const exported = new Set<number>();
  let inflight = 0;
  const track = <T>(p: Promise<T>): Promise<T> => {
    inflight++;
    return p.finally(() => inflight--);
  };
  const io = {
    writes,
    /** Resolves once no file operation is in flight and none follows in the promise chains. */
    async idle(): Promise<void> {
      for (;;) {
        while (inflight > 0) await new Promise((r) => setTimeout(r, 1));
        await new Promise<void>((r) => setImmediate(r));
        await new Promise<void>((r) => setImmediate(r));
        if (inflight === 0) return;
      }
    },
    readFile: (file: string) => track(readFile(file, 'utf8')),
    writable: (file: string) =>
      track(
        access(file, constants.W_OK).then(
          () => true,
          () => false,
        ),
      ),
    writeFile: (file: string, data: string) => track(write(file, data)),
  };
  async function write(file: string, data: string): Promise<void> {
    const rel = path.relative(root, file);
    writes.push(`${rel}=${data}`);
    if (rel === 'export') {
      const n = Number(data);
      if (!chips.some((c) => n >= c.base && n < c.base + c.ngpio)) throw errno('EINVAL');
      if (exported.has(n)) throw errno('EBUSY');
      exported.add(n);
      const dir = path.join(root, `gpio${n}`);
      await mkdir(dir, { recursive: true });
      await writeFile(path.join(dir, 'direction'), 'in\n');
      await writeFile(path.join(dir, 'value'), '0\n');
      await writeFile(path.join(dir, 'edge'), 'none\n');
      await writeFile(path.join(dir, 'active_low'), '0\n');
      return;
    }
    if (rel === 'unexport') {
      exported.delete(Number(data));
      return;
    }
    const [dir, attr] = rel.split(path.sep);
    if (attr === 'direction') {
      if (!['in', 'out', 'high', 'low'].includes(data)) throw errno('EINVAL');
      await writeFile(file, data === 'in' ? 'in\n' : 'out\n');
      if (data === 'high' || data === 'low')
        await writeFile(path.join(root, dir ?? '', 'value'), data === 'high' ? '1\n' : '0\n');
      return;
    }
    await writeFile(file, `${data}\n`);
  }
  return io;
}

/** Marks a line as exported by an earlier process (restart case), as an output at `level`. */
export function preExportOutput(root: string, n: number, level: 0 | 1): void {
  const dir = path.join(root, `gpio${n}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'direction'), 'out\n');
  writeFileSync(path.join(dir, 'value'), `${level}\n`);
  writeFileSync(path.join(dir, 'edge'), 'none\n');
  writeFileSync(path.join(dir, 'active_low'), '0\n');
}

/** Sets an input's value file, as the outside world would. */
export function setValue(root: string, n: number, level: 0 | 1): void {
  writeFileSync(path.join(root, `gpio${n}`, 'value'), `${level}\n`);
}
