import { setTimeout as sleep } from 'node:timers/promises';
import { coalesceEvents } from './event-coalescer';
import type { StreamEvent } from '../contract/stream-event';

const c = (content: string): StreamEvent => ({ type: 'content_chunk', completionId: 'x', content, index: 0 });
const t = (content: string): StreamEvent => ({ type: 'thinking', completionId: 'x', content });
const done: StreamEvent = {
  type: 'completed',
  completionId: 'x',
  finishReason: 'stop',
  usage: { promptTokens: 0, completionTokens: 0, totalTokens: 0 },
};

async function* source(items: Array<StreamEvent | number>): AsyncGenerator<StreamEvent> {
  for (const item of items) {
    if (typeof item === 'number') await sleep(item);
    else yield item;
  }
}

async function run(items: Array<StreamEvent | number>, maxChars = 100, maxWaitMs = 20): Promise<string[]> {
  const out: string[] = [];
  for await (const event of coalesceEvents(source(items), { maxChars, maxWaitMs })) {
    out.push(
      event.type === 'content_chunk'
        ? `c:${event.content}`
        : event.type === 'thinking'
          ? `t:${event.content}`
          : event.type,
    );
  }
  return out;
}

describe('coalesceEvents', () => {
  it('sends the first delta at once and merges the ones that follow within the window', async () => {
    expect(await run([c('a'), c('b'), c('c'), 60, c('d'), c('e'), done])).toEqual([
      'c:a',
      'c:bc',
      'c:de',
      'completed',
    ]);
  });

  it('never merges across kinds and keeps order', async () => {
    expect(await run([t('x'), t('y'), c('a'), c('b'), t('z'), done])).toEqual([
      't:x',
      't:y',
      'c:ab',
      't:z',
      'completed',
    ]);
  });

  it('bounds a merged event by maxChars', async () => {
    expect(await run([c('first'), c('1234'), c('5678'), c('9'), done], 8)).toEqual([
      'c:first',
      'c:12345678',
      'c:9',
      'completed',
    ]);
  });

  it('flushes held text before a terminal event and at the end', async () => {
    expect(await run([c('a'), c('b'), done])).toEqual(['c:a', 'c:b', 'completed']);
    expect(await run([c('a'), c('b'), c('c')])).toEqual(['c:a', 'c:bc']);
  });

  it('closes the source when the consumer stops', async () => {
    let closed = false;
    async function* tracked(): AsyncGenerator<StreamEvent> {
      try {
        yield c('a');
        yield c('b');
        await sleep(1000);
      } finally {
        closed = true;
      }
    }
    for await (const event of coalesceEvents(tracked(), { maxChars: 10, maxWaitMs: 5 })) {
      expect(event.type).toBe('content_chunk');
      break;
    }
    expect(closed).toBe(true);
  });
});
