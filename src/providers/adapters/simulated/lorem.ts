const WORDS = (
  'lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore ' +
  'magna aliqua enim ad minim veniam quis nostrud exercitation ullamco laboris nisi aliquip ex ea commodo ' +
  'consequat duis aute irure in reprehenderit voluptate velit esse cillum fugiat nulla pariatur excepteur sint ' +
  'occaecat cupidatat non proident sunt culpa qui officia deserunt mollit anim id est laborum'
).split(' ');

/** mulberry32: a tiny deterministic PRNG. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** FNV-1a, to seed lorem from the prompt when the request has no `seed`. */
export function hashString(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** `words` words of lorem ipsum in sentences, the same for the same seed. */
export function loremText(words: number, seed: number): string {
  const random = prng(seed);
  const out: string[] = [];
  let sentenceLeft = 0;
  for (let i = 0; i < words; i++) {
    let word = WORDS[Math.floor(random() * WORDS.length)]!;
    if (sentenceLeft === 0) {
      sentenceLeft = 6 + Math.floor(random() * 9);
      word = word[0]!.toUpperCase() + word.slice(1);
    }
    sentenceLeft--;
    const last = i === words - 1;
    out.push(sentenceLeft === 0 || last ? `${word}.` : random() < 0.08 ? `${word},` : word);
  }
  return out.join(' ');
}
