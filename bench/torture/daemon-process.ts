// The real daemon as a child process: its pino lines parsed as they arrive, the state machine
// followed from its "state changed" lines, and SIGKILL / SIGTERM.
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';

/** A pino line from the daemon's stdout (the journald `<N>` prefix stripped). */
export type DaemonLine = Record<string, unknown> & { readonly msg?: string };

/** Rejection of a wait because the process ended first. */
export class DaemonExited extends Error {
  constructor(readonly incarnation: number) {
    super(`daemon #${incarnation} exited`);
    this.name = 'DaemonExited';
  }
}

export interface DaemonProcessOptions {
  readonly mainJs: string;
  readonly configPath: string;
  readonly cwd: string;
  /** Counted from 1 across restarts; names the process in errors. */
  readonly incarnation: number;
}

const KEEP_OUTPUT = 200;

/** One run of `node dist/daemon/main.js --config <path>`. */
export class DaemonProcess {
  readonly child: ChildProcess;
  readonly incarnation: number;
  /** Resolves with the exit code / signal once the process is gone (never rejects). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The core's state from the last "state changed" line; undefined before the first. */
  state: string | undefined;
  kioskUrl: string | undefined;
  ready = false;
  killed = false;
  /** The last lines of stdout and stderr, for a failure report. */
  readonly tail: string[] = [];
  readonly #listeners = new Set<(line: DaemonLine) => void>();
  #gone = false;
  #framesOpen = false;

  constructor(options: DaemonProcessOptions) {
    this.incarnation = options.incarnation;
    this.child = spawn(process.execPath, [options.mainJs, '--config', options.configPath], {
      cwd: options.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NODE_ENV: 'production' },
    });
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.#gone = true;
        for (const listener of [...this.#listeners]) listener({ msg: '(exit)' });
        resolve({ code, signal });
      });
    });
    this.#readLines(this.child.stdout, (text) => {
      this.#keep(text);
      const brace = text.indexOf('{');
      if (brace < 0) return;
      let line: DaemonLine;
      try {
        line = JSON.parse(text.slice(brace)) as DaemonLine;
      } catch {
        return;
      }
      if (line.msg === 'state changed' && typeof line['to'] === 'string') this.state = line['to'];
      else if (line.msg === 'virtual kiosk listening' && typeof line['url'] === 'string') {
        this.kioskUrl = line['url'].replace(/\/$/, '');
        this.#watchFrames(this.kioskUrl);
      } else if (line.msg === 'ready') this.ready = true;
      for (const listener of [...this.#listeners]) listener(line);
    });
    this.#readLines(this.child.stderr, (text) => {
      this.#keep(`stderr: ${text}`);
    });
  }

  get alive(): boolean {
    return !this.#gone;
  }

  /**
   * Calls `listener` with every parsed line, `{msg: '(frame)', screen, invoiceReference, at}` for each
   * frame the display produced and `{msg: '(relay)', slot, energised}` for each relay edge (from
   * the kiosk's event stream: what the customer sees), and `{msg: '(exit)'}` at exit.
   */
  onLine(listener: (line: DaemonLine) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Resolves with the first line (from now on) `match` accepts; rejects {@link DaemonExited}
   * when the process ends first, or an Error after `timeoutMs`.
   */
  waitFor(
    match: (line: DaemonLine) => boolean,
    timeoutMs: number,
    what: string,
  ): Promise<DaemonLine> {
    if (this.#gone) return Promise.reject(new DaemonExited(this.incarnation));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new Error(`daemon #${this.incarnation}: no ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      const off = this.onLine((line) => {
        if (line.msg === '(exit)') {
          clearTimeout(timer);
          off();
          reject(new DaemonExited(this.incarnation));
        } else if (match(line)) {
          clearTimeout(timer);
          off();
          resolve(line);
        }
      });
    });
  }

  /** Resolves once the kiosk URL and `ready` were logged and the frame stream is open. */
  async whenReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(this.ready && this.kioskUrl !== undefined)) {
      await this.waitFor(
        (l) => l.msg === 'ready' || l.msg === 'virtual kiosk listening',
        Math.max(1, deadline - Date.now()),
        'ready line',
      );
    }
    while (!this.#framesOpen) {
      if (this.#gone) throw new DaemonExited(this.incarnation);
      if (Date.now() > deadline)
        throw new Error(`daemon #${this.incarnation}: kiosk event stream not open`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /** SIGKILL, now. Idempotent. */
  kill(): void {
    if (this.#gone || this.killed) return;
    this.killed = true;
    this.child.kill('SIGKILL');
  }

  /** SIGTERM, then the exit code (SIGKILL after `timeoutMs`). */
  async stop(timeoutMs: number): Promise<number | null> {
    if (this.#gone) return (await this.exited).code;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    const { code } = await this.exited;
    clearTimeout(timer);
    return code;
  }

  /** Follows the kiosk's Server-Sent Events; a frame showing a QR code names its invoice. */
  #watchFrames(kioskUrl: string): void {
    const req = http.get(`${kioskUrl}/events`, (res) => {
      this.#framesOpen = true;
      let pending = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        pending += chunk;
        let end: number;
        while ((end = pending.indexOf('\n\n')) >= 0) {
          const block = pending.slice(0, end);
          pending = pending.slice(end + 2);
          const frameEvent = block.startsWith('event: frame\n');
          if (!frameEvent && !block.startsWith('event: relay\n')) continue;
          const data = block.slice(block.indexOf('data: ') + 6);
          try {
            const event = JSON.parse(data) as Record<string, unknown>;
            const line: DaemonLine = frameEvent
              ? {
                  msg: '(frame)',
                  screen: event['screen'],
                  invoiceReference: event['invoiceReference'],
                  // When the daemon drew it (its clock): how long a screen stayed up.
                  at: event['at'],
                }
              : { msg: '(relay)', slot: event['slot'], energised: event['energised'] };
            for (const listener of [...this.#listeners]) listener(line);
          } catch {
            // An event cut short by the kill.
          }
        }
      });
      res.on('error', () => undefined);
    });
    req.on('error', () => undefined);
    void this.exited.then(() => req.destroy());
  }

  #keep(text: string): void {
    this.tail.push(text);
    if (this.tail.length > KEEP_OUTPUT) this.tail.shift();
  }

  #readLines(stream: NodeJS.ReadableStream | null, onLine: (text: string) => void): void {
    if (!stream) return;
    let pending = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      pending += chunk;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        onLine(pending.slice(0, nl));
        pending = pending.slice(nl + 1);
      }
    });
  }
}
