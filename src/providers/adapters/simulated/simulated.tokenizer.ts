/**
 * A deterministic stand-in for a BPE tokenizer: a token is a run of letters/digits or one other symbol,
 * with the whitespace before it. Joining the tokens gives back the input exactly.
 */
const TOKEN = /\s*(?:[\p{L}\p{N}_'’]+|[^\s\p{L}\p{N}_'’])|\s+/gu;

export function tokenize(text: string): string[] {
  return text.match(TOKEN) ?? [];
}

export function countTokens(text: string): number {
  let count = 0;
  TOKEN.lastIndex = 0;
  while (TOKEN.exec(text) !== null) count++;
  return count;
}
