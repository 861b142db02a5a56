import { FrameLimitError } from './frame-limit';
import { type SseEvent, SseParser } from './sse.parser';

interface Parsed {
  events: SseEvent[];
  comments: string[];
  retries: number[];
}

function parse(chunks: Array<Uint8Array | string>): Parsed {
  const out: Parsed = { events: [], comments: [], retries: [] };
  const parser = new SseParser({
    onEvent: (e) => out.events.push(e),
    onComment: (c) => out.comments.push(c),
    onRetry: (ms) => out.retries.push(ms),
  });
  for (const chunk of chunks) parser.feed(chunk);
  parser.end();
  return out;
}

/** The same bytes fed whole, then split in two at every byte boundary, then in three. */
function expectSplitInvariant(input: string, expected: Parsed): void {
  const bytes = Buffer.from(input, 'utf8');
  expect(parse([bytes])).toEqual(expected);
  for (let i = 0; i <= bytes.length; i++) {
    expect({ at: i, ...parse([bytes.subarray(0, i), bytes.subarray(i)]) }).toEqual({ at: i, ...expected });
  }
  for (let i = 1; i < bytes.length; i += 3) {
    for (let j = i; j < bytes.length; j += 5) {
      const three = parse([bytes.subarray(0, i), bytes.subarray(i, j), bytes.subarray(j)]);
      expect({ at: [i, j], ...three }).toEqual({ at: [i, j], ...expected });
    }
  }
  // One byte at a time.
  expect(parse([...bytes].map((b) => Uint8Array.of(b)))).toEqual(expected);
}

const msg = (data: string, event = 'message', id = ''): SseEvent => ({ event, data, id });

describe('SseParser', () => {
  it('parses OpenAI-style frames with a keepalive comment and [DONE]', () => {
    expectSplitInvariant(
      ': OPENROUTER PROCESSING\n\ndata: {"a":1}\n\ndata: {"b":"é€😀"}\n\ndata: [DONE]\n\n',
      {
        events: [msg('{"a":1}'), msg('{"b":"é€😀"}'), msg('[DONE]')],
        comments: ['OPENROUTER PROCESSING'],
        retries: [],
      },
    );
  });

  it('handles CRLF, lone CR and LF line ends in one stream', () => {
    expectSplitInvariant('data: one\r\n\r\ndata: two\r\rdata: three\n\ndata: four\r\n\n', {
      events: [msg('one'), msg('two'), msg('three'), msg('four')],
      comments: [],
      retries: [],
    });
  });

  it('joins multi-line data, keeps event names, ids and retry', () => {
    expectSplitInvariant(
      'event: content_block_delta\nid: 7\ndata: line 1\ndata:line 2\ndata\n\nretry: 1500\nretry: soon\nevent: ping\ndata: {}\n\n',
      {
        events: [msg('line 1\nline 2\n', 'content_block_delta', '7'), msg('{}', 'ping', '7')],
        comments: [],
        retries: [1500],
      },
    );
  });

  it('strips one leading BOM and one space after the colon only', () => {
    expectSplitInvariant('\uFEFFdata:  two spaces\n\n', {
      events: [msg(' two spaces')],
      comments: [],
      retries: [],
    });
  });

  it('ignores events without data, unknown fields and ids with NUL', () => {
    expectSplitInvariant('event: x\n\nfoo: bar\nid: a\0b\ndata: y\n\n', {
      events: [msg('y')],
      comments: [],
      retries: [],
    });
  });

  it('drops an event left unterminated at the end of the stream', () => {
    expectSplitInvariant('data: complete\n\ndata: partial\n', {
      events: [msg('complete')],
      comments: [],
      retries: [],
    });
  });

  it('accepts strings as well as bytes', () => {
    expect(parse(['data: a\r', '\ndata: b\n', '\n'])).toEqual({
      events: [msg('a\nb')],
      comments: [],
      retries: [],
    });
  });

  describe('with a frame limit', () => {
    const limit = 64;
    const limited = (chunks: string[]) => {
      const events: SseEvent[] = [];
      const comments: string[] = [];
      const parser = new SseParser(
        { onEvent: (e) => events.push(e), onComment: (c) => comments.push(c) },
        limit,
      );
      for (const chunk of chunks) parser.feed(chunk);
      parser.end();
      return { events, comments };
    };
    /** Every way of cutting `input` in two. */
    const splits = (input: string) =>
      Array.from({ length: input.length + 1 }, (_, i) => [input.slice(0, i), input.slice(i)]);

    it('accepts a line of exactly the limit however it is split', () => {
      const line = `data: ${'x'.repeat(limit - 6)}`;
      for (const chunks of splits(`${line}\n\n`)) {
        expect(limited(chunks).events).toEqual([msg('x'.repeat(limit - 6))]);
      }
    });

    it('throws FrameLimitError once a line passes the limit, fed whole, split or byte by byte', () => {
      const input = `data: ${'x'.repeat(limit - 5)}\n\n`;
      for (const chunks of [...splits(input), [...input]]) {
        expect(() => limited(chunks)).toThrow(FrameLimitError);
      }
    });

    it('throws as soon as the unterminated part passes the limit, before any line end arrives', () => {
      const parser = new SseParser({ onEvent: () => undefined }, limit);
      parser.feed('data: ');
      expect(() => {
        for (let i = 0; i < limit; i++) parser.feed('y');
      }).toThrow(/a stream line is longer than 64 characters/);
    });

    it("bounds an event's data joined from many short data lines", () => {
      const lines = Array.from({ length: 20 }, () => 'data: abcd\n').join('');
      expect(() => limited([`${lines}\n`])).toThrow(/an event's data is longer than 64 characters/);
    });

    it('bounds comment lines (keepalives) like any line', () => {
      expect(() => limited([`:${' '.repeat(limit)}\n`])).toThrow(FrameLimitError);
      expect(limited([`: ${'k'.repeat(limit - 2)}\n`]).comments).toEqual(['k'.repeat(limit - 2)]);
    });

    it('starts each line afresh: many lines under the limit pass, whatever their total', () => {
      const body = Array.from({ length: 100 }, (_, i) => `data: ${i}\n\n`).join('');
      expect(limited([body]).events).toHaveLength(100);
    });
  });
});
