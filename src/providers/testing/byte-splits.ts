/**
 * The ways a byte stream can arrive, for parser tests: whole, split in two at every byte boundary, in three at
 * a spread of boundary pairs, and one byte at a time. Each entry names where it was cut, so a failure says so.
 */
export function* byteSplits(input: string | Uint8Array): Generator<{ at: string; chunks: Uint8Array[] }> {
  const bytes = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  yield { at: 'whole', chunks: [bytes] };
  for (let i = 0; i <= bytes.length; i++) {
    yield { at: `${i}`, chunks: [bytes.subarray(0, i), bytes.subarray(i)] };
  }
  const step = Math.max(1, Math.floor(bytes.length / 40));
  for (let i = 1; i < bytes.length; i += step) {
    for (let j = i + 1; j < bytes.length; j += step + 2) {
      yield { at: `${i},${j}`, chunks: [bytes.subarray(0, i), bytes.subarray(i, j), bytes.subarray(j)] };
    }
  }
  yield { at: 'bytewise', chunks: [...bytes].map((b) => Uint8Array.of(b)) };
}
