import { StreamErrorCode } from '../contract/error-code';
import type { StreamEvent } from '../contract/stream-event';
import { PiiSanitizer } from './pii-sanitizer';
import { sanitizeEvents } from './sanitize-events';

const sanitizer = new PiiSanitizer({
  entities: ['email', 'phone', 'secret'],
  customRules: [],
  maskStyle: 'label',
  maxHoldback: 256,
});
const id = 'chatcmpl-1';

async function run(events: StreamEvent[]): Promise<StreamEvent[]> {
  async function* source(): AsyncGenerator<StreamEvent> {
    for (const event of events) {
      await Promise.resolve();
      yield event;
    }
  }
  const out: StreamEvent[] = [];
  for await (const event of sanitizeEvents(source(), sanitizer)) out.push(event);
  return out;
}

const text = (events: StreamEvent[], type: 'content_chunk' | 'thinking') =>
  events.map((e) => (e.type === type ? e.content : '')).join('');

describe('sanitizeEvents', () => {
  it('masks content, thinking and tool arguments split across deltas, each in its own channel', async () => {
    const out = await run([
      { type: 'thinking', completionId: id, content: 'mail jo' },
      { type: 'content_chunk', completionId: id, index: 0, content: 'Call +1 415-' },
      { type: 'thinking', completionId: id, content: 'e@example.com now' },
      {
        type: 'tool_call',
        completionId: id,
        index: 0,
        toolCallId: 't1',
        name: 'send',
        argumentsDelta: '{"to":"a@b',
      },
      { type: 'content_chunk', completionId: id, index: 0, content: '555-0100 today' },
      {
        type: 'tool_call',
        completionId: id,
        index: 0,
        toolCallId: 't1',
        name: 'send',
        argumentsDelta: '.io"}',
      },
      {
        type: 'completed',
        completionId: id,
        finishReason: 'stop',
        usage: { promptTokens: 1, completionTokens: 1, totalTokens: 2 },
      },
    ]);
    expect(text(out, 'content_chunk')).toBe('Call [PHONE] today');
    expect(text(out, 'thinking')).toBe('mail [EMAIL] now');
    const args = out.map((e) => (e.type === 'tool_call' ? e.argumentsDelta : '')).join('');
    expect(args).toBe('{"to":"[EMAIL]"}');
    // Every tool-call delta is kept (it carries the call's id and name), and the terminal event comes last.
    expect(
      out.filter((e) => e.type === 'tool_call').every((e) => e.type === 'tool_call' && e.name === 'send'),
    ).toBe(true);
    expect(out.at(-1)?.type).toBe('completed');
    expect(JSON.stringify(out)).not.toContain('415-');
  });

  it('releases held text before an error, whose message is masked too', async () => {
    const out = await run([
      { type: 'content_chunk', completionId: id, index: 0, content: 'partial answer' },
      {
        type: 'error',
        completionId: id,
        error: {
          code: StreamErrorCode.ProviderError,
          message: 'upstream quoted jane@example.com',
          retryable: true,
        },
      },
    ]);
    expect(text(out, 'content_chunk')).toBe('partial answer');
    expect(out.at(-1)).toMatchObject({ type: 'error', error: { message: 'upstream quoted [EMAIL]' } });
  });

  it('passes events through unchanged when there is nothing to mask', async () => {
    const chunk: StreamEvent = {
      type: 'content_chunk',
      completionId: id,
      index: 0,
      content: 'plain words. ',
    };
    const out = await run([chunk]);
    expect(out).toEqual([chunk]);
    expect(out[0]).toBe(chunk);
  });
});
