/**
 * How closely the simulated provider keeps its schedule (moved here from simulated.adapter.spec.ts, where a
 * wall-clock bound made a unit test depend on the machine): for a few rates and first-token delays, the time to
 * the first token and to the last, measured against the schedule (first at first_token_delay, then one token
 * every 1/tokens_per_second). Median of 5 runs, in process.
 *   node -r ts-node/register/transpile-only bench/simulated-pacing.ts
 */
import { ModelConfig, ProviderConfig } from '../src/config/app-config';
import { SimulatedAdapter } from '../src/providers/adapters/simulated/simulated.adapter';

const WORDS = 'one two three four five six seven eight nine ten';
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

async function once(
  tokensPerSecond: number,
  firstTokenDelay: number,
): Promise<[first: number, last: number]> {
  const adapter = new SimulatedAdapter(
    'simulated',
    Object.assign(new ProviderConfig(), {
      type: 'simulated',
      tokens_per_second: tokensPerSecond,
      first_token_delay: firstTokenDelay,
    }),
  );
  const model = Object.assign(new ModelConfig(), {
    id: 'simulated/echo',
    provider: 'simulated',
    upstream: 'echo',
    options: {},
  });
  const started = performance.now();
  let first = NaN;
  let last = NaN;
  for await (const event of adapter.stream({
    completionId: 'chatcmpl-bench',
    model,
    body: { model: 'simulated/echo', messages: [{ role: 'user', content: WORDS }] },
    signal: new AbortController().signal,
  })) {
    if (event.type !== 'content_chunk') continue;
    last = performance.now() - started;
    if (Number.isNaN(first)) first = last;
  }
  return [first, last];
}

async function main(): Promise<void> {
  console.log('tokens/s  first_token_delay  tokens  first (scheduled)    last (scheduled)');
  for (const [rate, delay] of [
    [100, 50],
    [200, 0],
    [50, 100],
  ] as const) {
    const runs: Array<[number, number]> = [];
    for (let i = 0; i < 5; i++) runs.push(await once(rate, delay));
    const tokens = WORDS.split(' ').length;
    const first = median(runs.map((r) => r[0]));
    const last = median(runs.map((r) => r[1]));
    const lastDue = delay + ((tokens - 1) * 1000) / rate;
    console.log(
      `${String(rate).padStart(8)}  ${String(delay).padStart(17)}  ${String(tokens).padStart(6)}  ` +
        `${first.toFixed(1).padStart(6)} ms (${delay} ms)`.padEnd(21) +
        `${last.toFixed(1).padStart(6)} ms (${lastDue} ms)`,
    );
  }
}

void main();
