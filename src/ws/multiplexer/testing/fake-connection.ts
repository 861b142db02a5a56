import type { MuxConnection } from '../connection-state';

/**
 * A socket whose send buffer the test sets by hand (`bufferedAmount`): it records what was sent (parsed) and the
 * close code. `whenWritable` resolves after `writableAfterMs` (0: at once), as a draining socket would.
 */
export class FakeConnection implements MuxConnection {
  readonly sent: Array<Record<string, unknown>> = [];
  bufferedAmount = 0;
  closedWith?: number;

  constructor(private readonly writableAfterMs = 0) {}

  send(text: string): void {
    this.sent.push(JSON.parse(text) as Record<string, unknown>);
  }

  close(code: number): void {
    this.closedWith = code;
  }

  whenWritable(): Promise<void> {
    if (this.writableAfterMs === 0) return Promise.resolve();
    return new Promise((resolve) => setTimeout(resolve, this.writableAfterMs));
  }
}
