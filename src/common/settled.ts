import type { EventEmitter } from 'node:events';

/** Resolves when `promise` settles or `emitter` emits one of `events`, after `ms` at the latest; never rejects. */
export function settled(
  ms: number,
  emitter: EventEmitter,
  events: string[],
  promise?: Promise<unknown>,
): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      for (const event of events) emitter.off(event, done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    for (const event of events) emitter.on(event, done);
    promise?.then(done, done);
  });
}
