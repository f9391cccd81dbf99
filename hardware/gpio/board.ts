import { readFile } from 'node:fs/promises';

/** What the device tree says about the board. */
export interface BoardInfo {
  /** e.g. `Raspberry Pi 4 Model B Rev 1.4`; empty when unknown. */
  readonly model: string;
  /** e.g. `['raspberrypi,4-model-b', 'brcm,bcm2711']`; empty when unknown. */
  readonly compatible: readonly string[];
}

/** Where to read the board identity; `/sys/firmware/devicetree` also works under ProtectProc. */
export interface BoardPaths {
  readonly model: readonly string[];
  readonly compatible: readonly string[];
}

export const DEFAULT_BOARD_PATHS: BoardPaths = {
  model: ['/sys/firmware/devicetree/base/model', '/proc/device-tree/model'],
  compatible: ['/sys/firmware/devicetree/base/compatible', '/proc/device-tree/compatible'],
};

async function firstReadable(files: readonly string[]): Promise<string> {
  for (const file of files) {
    try {
      return await readFile(file, 'latin1');
    } catch {
      // try the next location
    }
  }
  return '';
}

/** Reads the board identity (device-tree strings are NUL-terminated / NUL-separated). */
export async function detectBoard(paths: BoardPaths = DEFAULT_BOARD_PATHS): Promise<BoardInfo> {
  const model = (await firstReadable(paths.model)).replace(/\0+$/, '').trim();
  const compatible = (await firstReadable(paths.compatible)).split('\0').filter((s) => s !== '');
  return { model, compatible };
}

/** True for a Raspberry Pi 5 / CM5 (BCM2712 with the RP1 I/O chip). */
export function isPi5(board: BoardInfo): boolean {
  return (
    board.compatible.some((c) => c === 'brcm,bcm2712' || c.startsWith('raspberrypi,5')) ||
    /Raspberry Pi (5|Compute Module 5)/.test(board.model)
  );
}
