import { DEFAULT_TIMINGS, type CoreConfig } from '../../daemon/core/config.js';

/** A three-slot machine with the default timings. */
export const testConfig: CoreConfig = {
  ...DEFAULT_TIMINGS,
  machineName: 'Test machine',
  merchant: {
    name: 'Corner Cafe',
    address: ['Storgatan 1', '111 22 Stockholm'],
    terminalId: '87e791f9e24148a6892c52aa85bb0331',
  },
  products: [
    {
      slot: 1,
      buttonLabel: '1',
      name: 'Cola',
      price: { minor: 2500, currency: 'SEK' },
      taxRatePercent: 12,
    },
    { slot: 2, buttonLabel: '2', name: 'Water', price: { minor: 1500, currency: 'SEK' } },
    { slot: 3, buttonLabel: '3', name: 'Crisps', price: { minor: 3000, currency: 'SEK' } },
  ],
};
