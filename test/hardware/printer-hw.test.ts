import { describe, expect, it } from 'vitest';
import { systemClock } from '../../daemon/ports/clock.js';
import { EscPosPrinter } from '../../hardware/printer/escpos-printer.js';
import { HW, HW_PRINTER } from './support/hw-env.js';
import { RECEIPT } from './receipt.js';

// Paper-out, offline and stall behaviour are covered by the contract suites on stand-ins; on a
// real printer they need hands (open the cover, take the roll out), so this only checks a print.
describe('real receipt printer', () => {
  it.skipIf(!HW || !HW_PRINTER)(
    'prints one receipt on SEQR_VEND_HW_PRINTER and reports a state (skipped unless SEQR_VEND_HW_TEST=1 and SEQR_VEND_HW_PRINTER are set)',
    async () => {
      const printer = new EscPosPrinter({ clock: systemClock, device: HW_PRINTER ?? '' });
      expect(['ready', 'paperLow', 'unknown']).toContain(await printer.state());
      await printer.print(RECEIPT);
      await printer.close();
    },
  );
});
