import { isObject } from '../common/is-object';

/** A worker asks the primary for the cluster's metrics (its `/metrics` answers with every worker's). */
export interface MetricsRequest {
  type: 'cb:metrics';
  id: number;
}

export interface MetricsReply {
  type: 'cb:metrics-reply';
  id: number;
  text?: string;
  error?: string;
}

export function isMetricsRequest(value: unknown): value is MetricsRequest {
  return isObject(value) && value.type === 'cb:metrics' && typeof value.id === 'number';
}

export function isMetricsReply(value: unknown): value is MetricsReply {
  return isObject(value) && value.type === 'cb:metrics-reply' && typeof value.id === 'number';
}
