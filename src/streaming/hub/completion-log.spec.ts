import type { StreamEvent } from '../../contract/stream-event';
import { CompletionLog } from './completion-log';

const chunk = (n: number): StreamEvent => ({
  type: 'content_chunk',
  completionId: 'c',
  content: `c${n}`,
  index: 0,
});

function logOf(count: number): CompletionLog {
  const log = new CompletionLog();
  for (let n = 1; n <= count; n++) log.append(chunk(n), false);
  return log;
}

describe('CompletionLog', () => {
  it('numbers events from 1 and reads them by sequence number and range', () => {
    const log = logOf(5);
    expect(log.head).toBe(5);
    expect(log.first).toBe(1);
    expect(log.at(1)).toEqual(chunk(1));
    expect(log.at(6)).toBeUndefined();
    expect(log.between(2, 4)).toEqual([chunk(3), chunk(4)]);
  });

  it('drops its front, keeping the numbering, never past a cursor', () => {
    const log = logOf(10);
    const slow = { seq: 3 };
    log.cursors.add(slow);
    log.drop(8);
    // Held back by the cursor at 3: events 4.. stay.
    expect(log.first).toBe(4);
    expect(log.at(3)).toBeUndefined();
    expect(log.at(4)).toEqual(chunk(4));
    log.cursors.delete(slow);
    log.drop(8);
    expect([log.first, log.head]).toEqual([9, 10]);
    expect(log.between(0, 10)).toEqual([chunk(9), chunk(10)]);
    expect(log.between(9, 10)).toEqual([chunk(10)]);
    // Past the head is the head: nothing is dropped that has not come.
    log.drop(50);
    expect([log.first, log.head]).toEqual([11, 10]);
    log.append(chunk(11), true);
    expect(log.at(11)).toEqual(chunk(11));
    expect(log.done).toBe(true);
  });

  it('wakes a waiting reader when an event comes', async () => {
    const log = logOf(2);
    expect(log.after(1)).toBeUndefined();
    const waiting = log.after(2);
    expect(waiting).toBeInstanceOf(Promise);
    log.append(chunk(3), false);
    await expect(waiting).resolves.toBeUndefined();
  });
});
