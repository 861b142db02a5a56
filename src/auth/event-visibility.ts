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
 * The events a caller allowed only `types` may receive, as a predicate (terminal events always pass);
 * undefined when every type is allowed.
 */
export function allowedTypes<E extends { type: string }>(
  types: ReadonlySet<string> | undefined,
): ((event: E) => boolean) | undefined {
  if (types === undefined) return undefined;
  return (event) => TERMINAL.has(event.type) || types.has(event.type);
}
