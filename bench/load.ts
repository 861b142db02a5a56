import { Agent, request } from 'node:http';

export interface Percentiles {
  p50: number;
  p99: number;
}

export function percentiles(samples: number[]): Percentiles {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  return { p50: at(0.5), p99: at(0.99) };
}

const NON_EMPTY_CONTENT = /"content":"(?!")/;

interface Response {
  status: number;
  firstChunkMs: number;
  totalMs: number;
  dataFrames: number;
}

/** One POST; times the first body chunk that carries content and counts SSE data frames. */
export function post(agent: Agent, url: string, body: string): Promise<Response> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: 'POST', agent, headers: { 'content-type': 'application/json' } },
      (res) => {
        let firstChunkMs = -1;
        let dataFrames = 0;
        res.on('data', (chunk: Buffer) => {
          const text = chunk.toString('latin1');
          // The first non-empty content delta (a role chunk's `"content":""` in the same read does not count).
          if (firstChunkMs < 0 && NON_EMPTY_CONTENT.test(text)) {
            firstChunkMs = performance.now() - started;
          }
          for (let i = text.indexOf('data: '); i !== -1; i = text.indexOf('data: ', i + 6)) dataFrames++;
        });
        res.on('end', () => {
          const totalMs = performance.now() - started;
          resolve({
            status: res.statusCode ?? 0,
            firstChunkMs: firstChunkMs < 0 ? totalMs : firstChunkMs,
            totalMs,
            dataFrames,
          });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

export interface LoadResult {
  requests: number;
  seconds: number;
  latency: Percentiles;
  firstChunk: Percentiles;
  frames: number;
  errors: number;
}

/** `concurrency` closed-loop clients for `seconds`. */
export async function closedLoop(
  url: string,
  body: string,
  concurrency: number,
  seconds: number,
): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const latencies: number[] = [];
  const firsts: number[] = [];
  let frames = 0;
  let errors = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        const res = await post(agent, url, body);
        if (res.status !== 200) errors++;
        latencies.push(res.totalMs);
        firsts.push(res.firstChunkMs);
        frames += res.dataFrames;
      }
    }),
  );
  agent.destroy();
  const elapsed = (performance.now() - started) / 1000;
  return {
    requests: latencies.length,
    seconds: elapsed,
    latency: percentiles(latencies),
    firstChunk: percentiles(firsts),
    frames,
    errors,
  };
}
