export const SYSTEM_EVENT_TYPES = [
  'provider_health',
  'circuit_state_changed',
  'dead_letter',
  'node_started',
  'node_stopping',
] as const;
export type SystemEventType = (typeof SYSTEM_EVENT_TYPES)[number];

/** Ordered: a `minSeverity` match keeps this one and those after it. */
export const SEVERITIES = ['info', 'warning', 'error', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

export interface SystemEvent {
  type: SystemEventType;
  severity: Severity;
  message: string;
  /** The node it happened on. */
  node: string;
  provider?: string;
  model?: string;
  data?: Record<string, unknown>;
}

/** What a `systemEvents` subscriber asks for; every field given must match. */
export interface SystemEventMatch {
  types?: readonly SystemEventType[];
  severities?: readonly Severity[];
  minSeverity?: Severity;
  providers?: readonly string[];
}

/** The match as a predicate; absent or empty fields match everything. */
export function matcher(match: SystemEventMatch): (event: SystemEvent) => boolean {
  const types = match.types?.length ? new Set(match.types) : undefined;
  const severities = match.severities?.length ? new Set(match.severities) : undefined;
  const providers = match.providers?.length ? new Set(match.providers) : undefined;
  const min = match.minSeverity ? SEVERITIES.indexOf(match.minSeverity) : 0;
  return (event) =>
    (!types || types.has(event.type)) &&
    (!severities || severities.has(event.severity)) &&
    SEVERITIES.indexOf(event.severity) >= min &&
    (!providers || (event.provider !== undefined && providers.has(event.provider)));
}
