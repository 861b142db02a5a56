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
export function post(
  agent: Agent,
  url: string,
  body: string,
  headers: Record<string, string> = {},
): Promise<Response> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: 'POST', agent, headers: { 'content-type': 'application/json', ...headers } },
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

/** One request of a closed loop, measured. */
interface Sample {
  ok: boolean;
  totalMs: number;
  /** Time to the first content chunk (the total when there was none). */
  firstMs: number;
  frames: number;
}

/** `concurrency` closed loops running `once` back to back for `seconds`, summarized. */
async function loops(concurrency: number, seconds: number, once: () => Promise<Sample>): Promise<LoadResult> {
  const latencies: number[] = [];
  const firsts: number[] = [];
  let frames = 0;
  let errors = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        const sample = await once();
        if (!sample.ok) errors++;
        latencies.push(sample.totalMs);
        firsts.push(sample.firstMs);
        frames += sample.frames;
      }
    }),
  );
  return {
    requests: latencies.length,
    seconds: (performance.now() - started) / 1000,
    latency: percentiles(latencies),
    firstChunk: percentiles(firsts),
    frames,
    errors,
  };
}

/** `concurrency` closed-loop clients for `seconds`. */
export async function closedLoop(
  url: string,
  body: string,
  concurrency: number,
  seconds: number,
  headers: Record<string, string> = {},
): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const result = await loops(concurrency, seconds, async () => {
    const res = await post(agent, url, body, headers);
    return {
      ok: res.status === 200,
      totalMs: res.totalMs,
      firstMs: res.firstChunkMs,
      frames: res.dataFrames,
    };
  });
  agent.destroy();
  return result;
}

/**
 * The router's WebSocket edge: `concurrency` closed loops multiplexed on ONE socket, each sending a
 * `completion` and waiting for its `completed`. Frames are the messages received about it.
 */
export async function wsClosedLoop(
  baseUrl: string,
  request: Record<string, unknown>,
  concurrency: number,
  seconds: number,
): Promise<LoadResult> {
  const { default: WebSocket } = await import('ws');
  const socket = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}/ws/stream`);
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  interface Pending {
    started: number;
    first: number;
    frames: number;
    resolve: (ok: boolean) => void;
  }
  const pending = new Map<string, Pending>();
  socket.on('message', (data: Buffer) => {
    const text = data.toString('latin1');
    // The client's `id` (its messages also carry the server's `completionId`).
    const id = /"id":"([^"]+)"/.exec(text)?.[1];
    const entry = id === undefined ? undefined : pending.get(id);
    if (!entry || id === undefined) return;
    entry.frames++;
    if (entry.first < 0 && text.startsWith('{"type":"content_chunk"'))
      entry.first = performance.now() - entry.started;
    if (text.startsWith('{"type":"completed"') || text.startsWith('{"type":"error"')) {
      pending.delete(id);
      entry.resolve(text.startsWith('{"type":"completed"'));
    }
  });
  let next = 0;
  const result = await loops(concurrency, seconds, async () => {
    const id = `b${next++}`;
    const entry: Pending = { started: performance.now(), first: -1, frames: 0, resolve: () => undefined };
    const done = new Promise<boolean>((resolve) => (entry.resolve = resolve));
    pending.set(id, entry);
    socket.send(JSON.stringify({ type: 'completion', id, ...request }));
    const ok = await done;
    const totalMs = performance.now() - entry.started;
    return { ok, totalMs, firstMs: entry.first < 0 ? totalMs : entry.first, frames: entry.frames };
  });
  socket.close();
  return result;
}

/**
 * The GraphQL edge: `concurrency` closed loops on ONE graphql-ws connection, each running `createCompletion`
 * and then `completionStream` to its COMPLETED. Latency and first chunk count from the mutation; frames are
 * the subscription's events. Every event goes through Redis (the event bus) on its way.
 */
export async function graphqlClosedLoop(
  baseUrl: string,
  input: Record<string, unknown>,
  concurrency: number,
  seconds: number,
): Promise<LoadResult> {
  const { default: WebSocket } = await import('ws');
  const { createClient } = await import('graphql-ws');
  const client = createClient({
    url: `${baseUrl.replace(/^http/, 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    lazy: false,
  });
  const run = (
    query: string,
    variables: Record<string, unknown>,
    onNext: (data: Record<string, unknown>) => void,
  ) =>
    new Promise<boolean>((resolve) => {
      client.subscribe<Record<string, unknown>>(
        { query, variables },
        {
          next: (result) => (result.data ? onNext(result.data) : resolve(false)),
          error: () => resolve(false),
          complete: () => resolve(true),
        },
      );
    });
  const create = 'mutation($input: CompletionInput!) { createCompletion(input: $input) { completionId } }';
  const stream = 'subscription($id: ID!) { completionStream(completionId: $id) { eventType content } }';
  const result = await loops(concurrency, seconds, async () => {
    const t0 = performance.now();
    let id: string | undefined;
    let first = -1;
    let frames = 0;
    let completed = false;
    const made = await run(create, { input }, (data) => {
      id = (data.createCompletion as { completionId: string }).completionId;
    });
    const streamed =
      made &&
      id !== undefined &&
      (await run(stream, { id }, (data) => {
        frames++;
        const event = data.completionStream as { eventType: string };
        if (first < 0 && event.eventType === 'CONTENT_CHUNK') first = performance.now() - t0;
        if (event.eventType === 'COMPLETED') completed = true;
      }));
    const totalMs = performance.now() - t0;
    return { ok: streamed && completed, totalMs, firstMs: first < 0 ? totalMs : first, frames };
  });
  await client.dispose();
  return result;
}

/**
 * A workflow run per loop: `POST /v1/workflows/{id}/runs`, then its events over SSE
 * (`GET /v1/workflow-runs/{runId}/events`) to WORKFLOW_COMPLETED. First chunk is the first AGENT_PROGRESS;
 * frames are the SSE events. Every event goes through Redis (the run's kept history) on its way.
 */
export async function workflowClosedLoop(
  baseUrl: string,
  workflowId: string,
  input: Record<string, unknown>,
  concurrency: number,
  seconds: number,
): Promise<LoadResult> {
  const body = JSON.stringify({ input });
  return loops(concurrency, seconds, async () => {
    const t0 = performance.now();
    const started = await fetch(`${baseUrl}/v1/workflows/${workflowId}/runs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    const runId = /"runId":"([^"]+)"/.exec(await started.text())?.[1];
    if (started.status !== 201 || runId === undefined) {
      return { ok: false, totalMs: performance.now() - t0, firstMs: performance.now() - t0, frames: 0 };
    }
    const events = await fetch(`${baseUrl}/v1/workflow-runs/${runId}/events`);
    let first = -1;
    let frames = 0;
    let ok = false;
    // The end of the previous read, so a name split across reads is still seen.
    let carry = '';
    const decoder = new TextDecoder();
    for await (const chunk of events.body as AsyncIterable<Uint8Array>) {
      const text = carry + decoder.decode(chunk, { stream: true });
      frames += text.split('\nevent: ').length - 1 - (carry.includes('\nevent: ') ? 1 : 0);
      if (first < 0 && text.includes('event: AGENT_PROGRESS')) first = performance.now() - t0;
      if (text.includes('event: WORKFLOW_COMPLETED')) ok = true;
      carry = text.slice(-32);
    }
    const totalMs = performance.now() - t0;
    return { ok, totalMs, firstMs: first < 0 ? totalMs : first, frames };
  });
}
