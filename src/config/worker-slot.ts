/** The environment variable the cluster's primary sets on each worker it forks: the worker's slot (1-based). */
export const WORKER_SLOT_ENV = 'CB_WORKER_INDEX';

/** The slot the primary gave this worker, or undefined when the primary set none. */
export function workerSlotFromEnv(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const slot = Number(env[WORKER_SLOT_ENV]);
  return Number.isInteger(slot) && slot > 0 ? slot : undefined;
}
