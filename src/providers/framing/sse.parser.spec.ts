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
});
