import type { StreamEvent } from '../../contract/stream-event';
import { FrameTranslator } from './frame-translator';
import type { VendorStreamParser } from './vendor-codec';

/** A parser that turns each `data` into a content event, fails on `boom`, and ends on `end`. */
class CountingParser implements VendorStreamParser {
  finished = false;
  parsed = 0;

  frame(_event: string, data: string, out: StreamEvent[]): void {
    this.parsed++;
    if (data === 'boom') throw new Error('bad frame');
    if (data === 'end') {
      this.finished = true;
      out.push({
        type: 'completed',
        completionId: 'c',
        finishReason: 'stop',
        usage: { promptTokens: 0, completionTokens: 0, totalTokens: 0 },
      });
      return;
    }
    out.push({ type: 'content_chunk', completionId: 'c', content: data, index: 0 });
  }

  end(): void {
    if (!this.finished) throw new Error('cut short');
  }
}

const bytes = (text: string) => Buffer.from(text, 'utf8');

describe('FrameTranslator', () => {
  it('yields the first event of a burst before parsing the frames after it', () => {
    const parser = new CountingParser();
    const events = new FrameTranslator('sse', parser).feed(bytes('data: a\n\ndata: b\n\ndata: c\n\n'));
    expect(events.next().value).toMatchObject({ content: 'a' });
    expect(parser.parsed).toBe(1);
    expect([...events].map((e) => (e as { content: string }).content)).toEqual(['b', 'c']);
  });

  it('throws at a failing frame after the events before it, and reads nothing after the end marker', () => {
    const parser = new CountingParser();
    const translator = new FrameTranslator('ndjson', parser);
    const seen: string[] = [];
    expect(() => {
      for (const e of translator.feed(bytes('x\ny\nboom\nz\n')))
        seen.push((e as { content: string }).content);
    }).toThrow('bad frame');
    expect(seen).toEqual(['x', 'y']);

    const done = new FrameTranslator('sse', new CountingParser());
    const types = [...done.feed(bytes('data: a\n\ndata: end\n\ndata: late\n\n')), ...done.end()].map(
      (e) => e.type,
    );
    expect(types).toEqual(['content_chunk', 'completed']);
  });

  it("delivers NDJSON's unterminated last line at the end, then the parser's verdict", () => {
    const translator = new FrameTranslator('ndjson', new CountingParser());
    expect([...translator.feed(bytes('a\nend'))].length).toBe(1);
    expect([...translator.end()].map((e) => e.type)).toEqual(['completed']);
    const cut = new FrameTranslator('ndjson', new CountingParser());
    [...cut.feed(bytes('a\n'))].forEach(() => undefined);
    expect(() => [...cut.end()]).toThrow('cut short');
  });
});
