import { type Agent, request } from 'node:http';

/**
 * The machine's monotonic clock in ms (CLOCK_MONOTONIC on Linux, one clock for every process of the
 * machine), so that arrival times taken in the bench process and in its receiver processes compare.
 */
export const now = (): number => Number(process.hrtime.bigint()) / 1e6;

/** What one SSE client of a completion saw: when each sequence number first reached it. */
export interface Tap {
  completionId: string;
  /** Arrival time (now()) of each seq's first frame, by seq. */
  arrivals: Map<number, number>;
  /** Arrival of the first numbered frame (a follower is caught up on the history from then on). */
  first: number;
  status: number;
}

/** `id: <completionId>:<seq>` lines of the SSE edge (a multi-frame event repeats its id). */
const ID_LINE = /^id: [^\n:]+:(\d+)$/gm;

/**
 * One SSE request (POST to start a completion, GET to follow one), timing each frame's arrival by its
 * `id:`. `onHeaders` gets the X-Completion-Id as soon as the response starts (a follower can then start).
 */
export function tapSse(
  agent: Agent,
  url: string,
  init: { method: 'GET' | 'POST'; body?: string; timeoutMs?: number },
  onHeaders?: (completionId: string) => void,
): Promise<Tap> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: init.method,
        agent,
        headers: { 'content-type': 'application/json' },
        // A stream that never ends is a failure to report, not a bench that hangs.
        signal: AbortSignal.timeout(init.timeoutMs ?? 60_000),
      },
      (res) => {
        const completionId = String(res.headers['x-completion-id'] ?? '');
        const tap: Tap = {
          completionId,
          arrivals: new Map(),
          first: Number.NaN,
          status: res.statusCode ?? 0,
        };
        onHeaders?.(completionId);
        // The unfinished last line of the previous read.
        let carry = '';
        res.on('data', (chunk: Buffer) => {
          const at = now();
          const text = carry + chunk.toString('latin1');
          const end = text.lastIndexOf('\n');
          carry = text.slice(end + 1);
          for (const match of text.slice(0, end + 1).matchAll(ID_LINE)) {
            const seq = Number(match[1]);
            if (!tap.arrivals.has(seq)) tap.arrivals.set(seq, at);
            if (Number.isNaN(tap.first)) tap.first = at;
          }
        });
        res.on('end', () => resolve(tap));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(init.body);
  });
}

/**
 * Delays of a follower against the reference client (both on this machine's clock): for every seq both got,
 * once the follower was caught up (the reference got it after the follower's first frame: before that, the
 * follower was reading history, which says how late it joined, not how fast delivery is).
 */
export function followerDelays(reference: Tap, follower: Tap, into: number[]): void {
  for (const [seq, at] of reference.arrivals) {
    const got = follower.arrivals.get(seq);
    if (got !== undefined && at >= follower.first) into.push(got - at);
  }
}

/** CPU time (user + system, ms) a process has used so far, from /proc (Linux); NaN elsewhere. */
export async function cpuMs(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  try {
    const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
    // utime and stime are fields 14 and 15 of stat, in clock ticks (100 per second on Linux).
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return Number.NaN;
  }
}
