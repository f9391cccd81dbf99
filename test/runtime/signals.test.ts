import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { Runtime } from '../../daemon/runtime/runtime.js';
import { installSignalHandlers } from '../../daemon/runtime/signals.js';
import { captureLog, startHarness } from '../support/harness.js';

class FakeProcess extends EventEmitter {
  exitCode: number | undefined;
}

describe('installSignalHandlers', () => {
  it('SIGTERM stops the runtime once (a second signal is ignored), exit code 0, outputs safe', async () => {
    const h = await startHarness();
    const target = new FakeProcess();
    const { log, lines } = captureLog();
    const { stopped, uninstall } = installSignalHandlers(h.runtime, log, target);
    target.emit('SIGTERM');
    target.emit('SIGINT');
    await stopped;
    expect(target.exitCode).toBe(0);
    expect(lines.some((l) => l.msg === 'already stopping')).toBe(true);
    await expect(
      h.display.show({ kind: 'problem', problem: 'paymentFailed' }),
    ).rejects.toMatchObject({ code: 'E_CLOSED' });
    uninstall();
    expect(target.listenerCount('SIGTERM')).toBe(0);
    expect(target.listenerCount('SIGINT')).toBe(0);
  });

  it('a failing stop sets exit code 1', async () => {
    const target = new FakeProcess();
    const runtime = { stop: () => Promise.reject(new Error('close failed')) } as unknown as Runtime;
    const { stopped } = installSignalHandlers(runtime, captureLog().log, target);
    target.emit('SIGINT');
    await stopped;
    expect(target.exitCode).toBe(1);
  });
});
