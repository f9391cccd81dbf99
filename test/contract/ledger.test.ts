import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MemoryLedger } from '../../daemon/ledger/memory-ledger.js';
import { SqliteLedger } from '../../daemon/ledger/sqlite-ledger.js';
import { describeLedgerContract } from './ledger.contract.js';

describeLedgerContract('SqliteLedger on a file', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'seqr-ledger-contract-'));
  const file = path.join(dir, 'ledger.sqlite');
  return Promise.resolve({
    ledger: SqliteLedger.open({ path: file }),
    // A second connection to the same file, the first one left open.
    reopen: () => Promise.resolve(SqliteLedger.open({ path: file })),
    dispose: () => {
      rmSync(dir, { recursive: true, force: true });
      return Promise.resolve();
    },
  });
});

describeLedgerContract('MemoryLedger', () => {
  const ledger = new MemoryLedger();
  // Its storage is the process: a second view starts from what the first one holds.
  return Promise.resolve({
    ledger,
    reopen: () => Promise.resolve(new MemoryLedger(ledger.entries)),
  });
});
