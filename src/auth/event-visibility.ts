import type { Principal } from '../contract/principal';

/** Events every subscriber gets whatever its allowed event types: they end streams. */
const TERMINAL = new Set(['completed', 'error', 'workflow_completed']);

/**
 * What a viewer may receive of a stream, as a predicate on events; undefined when it may receive everything
 * (the usual case, which costs nothing per event). `ownedOnly`: the stream carries many users' resources
 * (a definition's runs, agent_status), so an own-scoped viewer gets only the events of theirs.
 */
export function eventVisibility<E extends { type: string; owner?: string }>(
  viewer: Principal,
  ownedOnly: boolean,
): ((event: E) => boolean) | undefined {
  const mine = ownedOnly && !(viewer.admin || viewer.scope === 'all' || viewer.anonymous);
  const types = viewer.eventTypes;
  if (!mine && types === undefined) return undefined;
  const user = viewer.userId;
  return (event) =>
    (!mine || event.owner === user) &&
    (types === undefined || TERMINAL.has(event.type) || types.has(event.type));
}

/**
 * A completion stream without the events `types` does not allow (terminal events always pass); the same
 * stream when every type is allowed.
 */
export function allowedEvents<S extends AsyncIterable<{ type: string }>>(
  stream: S,
  types: ReadonlySet<string> | undefined,
): S {
  if (types === undefined) return stream;
  async function* only(): AsyncGenerator<unknown> {
    for await (const event of stream) if (TERMINAL.has(event.type) || types!.has(event.type)) yield event;
  }
  // The stream's identity (completion id, model, provider) stays readable through its getters.
  return new Proxy(stream, {
    get: (target, key, receiver) =>
      key === Symbol.asyncIterator ? () => only() : (Reflect.get(target, key, receiver) as unknown),
  });
}
