import { byteSplits } from '../testing/byte-splits';
import { FrameLimitError } from './frame-limit';
import { NdjsonParser } from './ndjson.parser';

/** The lines a parser bounded at LIMIT characters gives for these chunks (it throws past the limit). */
const LIMIT = 32;
function run(chunks: string[]): string[] {
  const out: string[] = [];
  const parser = new NdjsonParser((line) => out.push(line), LIMIT);
  for (const chunk of chunks) parser.feed(chunk);
  parser.end();
  return out;
}
/** A line of exactly LIMIT characters, and one a character longer. */
const ok = `{"a":"${'x'.repeat(LIMIT - 8)}"}`;
const long = `{"a":"${'x'.repeat(LIMIT - 7)}"}`;

function lines(chunks: Uint8Array[]): string[] {
  const out: string[] = [];
  const parser = new NdjsonParser((line) => out.push(line));
  for (const chunk of chunks) parser.feed(chunk);
  parser.end();
  return out;
}

function expectAtEverySplit(input: string, expected: string[]): void {
  for (const { at, chunks } of byteSplits(input)) {
    expect({ at, lines: lines(chunks) }).toEqual({ at, lines: expected });
  }
}

describe('NdjsonParser', () => {
  it('splits Ollama-style lines, keeping multi-byte characters whole at every split', () => {
    expectAtEverySplit('{"message":{"content":"é€"}}\n{"message":{"content":"😀 ok"}}\n{"done":true}\n', [
      '{"message":{"content":"é€"}}',
      '{"message":{"content":"😀 ok"}}',
      '{"done":true}',
    ]);
  });

  it('drops CR before LF and skips blank lines', () => {
    expectAtEverySplit('{"a":1}\r\n\r\n  \n{"b":2}\r\n', ['{"a":1}', '{"b":2}']);
  });

  it('delivers a last line that has no newline at the end of the stream', () => {
    expectAtEverySplit('{"a":1}\n{"done":true}', ['{"a":1}', '{"done":true}']);
  });

  it('passes malformed lines through for the caller to reject', () => {
    expectAtEverySplit('{"a":\nnot json\n', ['{"a":', 'not json']);
  });

  it('accepts strings as well as bytes', () => {
    const out: string[] = [];
    const parser = new NdjsonParser((line) => out.push(line));
    parser.feed('{"a"');
    parser.feed(':1}\n{"b":2}');
    parser.end();
    expect(out).toEqual(['{"a":1}', '{"b":2}']);
  });

  it('throws FrameLimitError for a line past its limit, split anywhere, and accepts one at the limit', () => {
    for (let i = 0; i <= ok.length + 1; i++) {
      const input = `${ok}\n`;
      expect(run([input.slice(0, i), input.slice(i)])).toEqual([ok]);
      const bad = `${long}\n`;
      expect(() => run([bad.slice(0, i), bad.slice(i)])).toThrow(FrameLimitError);
    }
    // A last line without a newline is bounded too.
    expect(() => run([long])).toThrow(FrameLimitError);
  });

  it('bounds the line without its CR: a CRLF line at the limit passes, one character more does not', () => {
    const input = `${ok}\r\n${ok}\r\n`;
    const bad = `${long}\r\n`;
    for (let i = 0; i <= input.length; i++) {
      expect({ at: i, lines: run([input.slice(0, i), input.slice(i)]) }).toEqual({ at: i, lines: [ok, ok] });
      if (i <= bad.length) expect(() => run([bad.slice(0, i), bad.slice(i)])).toThrow(FrameLimitError);
    }
    // A CR alone at the end of the stream is dropped like one before LF; the line is still bounded.
    expect(run([`${ok}\r`])).toEqual([ok]);
    expect(() => run([`${long}\r`])).toThrow(FrameLimitError);
  });
});
