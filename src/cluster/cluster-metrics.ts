import cluster from 'node:cluster';
import { AggregatorRegistry } from 'prom-client';
import { isMetricsReply, type MetricsRequest } from './cluster-messages';

const TIMEOUT_MS = 6_000;

let next = 0;
/** Requests to the primary waiting for its answer, by id. */
const waiting = new Map<
  number,
  { resolve: (text: string) => void; reject: (err: Error) => void; timer: NodeJS.Timeout }
>();
let listening = false;

/**
 * In a cluster worker, at boot: answer the primary's requests for this worker's metrics (prom-client adds its
 * listener when an AggregatorRegistry is made in the process).
 */
export function answerMetricsRequests(): void {
  if (cluster.isWorker) new AggregatorRegistry();
}

/** In a cluster worker: every worker's metrics, aggregated by the primary. Elsewhere: undefined. */
export function clusterMetrics(): Promise<string> | undefined {
  if (!cluster.isWorker || typeof process.send !== 'function') return undefined;
  if (!listening) {
    listening = true;
    process.on('message', (message: unknown) => {
      if (!isMetricsReply(message)) return;
      const pending = waiting.get(message.id);
      if (!pending) return;
      waiting.delete(message.id);
      clearTimeout(pending.timer);
      if (message.text !== undefined) pending.resolve(message.text);
      else pending.reject(new Error(`cluster metrics: ${message.error ?? 'no answer'}`));
    });
  }
  const id = next++;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      waiting.delete(id);
      reject(new Error('cluster metrics: the primary did not answer'));
    }, TIMEOUT_MS);
    waiting.set(id, { resolve, reject, timer });
    const request: MetricsRequest = { type: 'cb:metrics', id };
    process.send?.(request);
  });
}
