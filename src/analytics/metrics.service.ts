import { Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, type Metric, register } from 'prom-client';
import { AppConfig } from '../config/app-config';

export type Protocol = 'http' | 'sse' | 'ws' | 'graphql' | 'workflow';
export type StreamOutcome = 'completed' | 'error' | 'cancelled';

/** Counters bound to one protocol's labels once, so the per-chunk path does no label lookups. */
export interface ChunkMeter {
  chunks: Counter.Internal;
  bytes: Counter.Internal;
}

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const DURATION_BUCKETS = [0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

/**
 * Prometheus metrics of the service (`cb_*`), on prom-client's default registry so `/metrics` serves them with
 * the process defaults. Metrics are fetched-or-created, so several app instances in one process share them.
 */
@Injectable()
export class MetricsService {
  readonly httpRequests = metric(
    'cb_http_requests_total',
    (name) =>
      new Counter({
        name,
        help: 'HTTP requests by method, route and status',
        labelNames: ['method', 'route', 'status'],
      }),
  );
  readonly httpDuration = metric(
    'cb_http_request_duration_seconds',
    (name) =>
      new Histogram({
        name,
        help: 'HTTP request duration (until the response ends)',
        labelNames: ['method', 'route'],
        buckets: DURATION_BUCKETS,
      }),
  );
  readonly activeStreams = metric(
    'cb_active_streams',
    (name) => new Gauge({ name, help: 'Completions in flight by protocol', labelNames: ['protocol'] }),
  );
  readonly timeToFirstToken = metric(
    'cb_time_to_first_token_seconds',
    (name) =>
      new Histogram({
        name,
        help: 'From request to the first generated event',
        labelNames: ['provider', 'model'],
        buckets: LATENCY_BUCKETS,
      }),
  );
  readonly streamDuration = metric(
    'cb_stream_duration_seconds',
    (name) =>
      new Histogram({
        name,
        help: 'Completion duration by protocol and outcome',
        labelNames: ['protocol', 'outcome'],
        buckets: DURATION_BUCKETS,
      }),
  );
  readonly chunksSent = metric(
    'cb_stream_chunks_sent_total',
    (name) => new Counter({ name, help: 'Stream frames written to clients', labelNames: ['protocol'] }),
  );
  readonly bytesSent = metric(
    'cb_stream_bytes_sent_total',
    (name) => new Counter({ name, help: 'Stream bytes written to clients', labelNames: ['protocol'] }),
  );
  readonly streamErrors = metric(
    'cb_stream_errors_total',
    (name) =>
      new Counter({
        name,
        help: 'Completions that ended in an error, by code',
        labelNames: ['protocol', 'code'],
      }),
  );
  readonly providerRequests = metric(
    'cb_provider_requests_total',
    (name) =>
      new Counter({ name, help: 'Provider generations by outcome', labelNames: ['provider', 'outcome'] }),
  );
  /** 0 closed, 1 half-open, 2 open, as this node knows it (its own transitions and other nodes'). */
  readonly circuitState = metric(
    'cb_circuit_state',
    (name) =>
      new Gauge({
        name,
        help: 'Circuit state by provider and model: 0 closed, 1 half-open, 2 open',
        labelNames: ['provider', 'model'],
        // Workers of one cluster each know the state: their aggregate is the worst, not a sum.
        aggregator: 'max',
      }),
  );
  /** Counted on the node whose request caused the transition, so the sum over nodes is the cluster's count. */
  readonly circuitTransitions = metric(
    'cb_circuit_transitions_total',
    (name) =>
      new Counter({
        name,
        help: 'Circuit state changes caused by this node, by the state entered',
        labelNames: ['provider', 'model', 'to'],
      }),
  );

  readonly failovers = metric(
    'cb_failovers_total',
    (name) =>
      new Counter({
        name,
        help: 'Moves to the next provider of a chain, by the provider left and the error that caused it',
        labelNames: ['provider', 'code'],
      }),
  );
  readonly retries = metric(
    'cb_retries_total',
    (name) =>
      new Counter({
        name,
        help: 'Retries of the same provider, by provider and the error that caused them',
        labelNames: ['provider', 'code'],
      }),
  );
  readonly splices = metric(
    'cb_stream_splices_total',
    (name) =>
      new Counter({
        name,
        help: 'Streams continued on another provider after failing past their first token',
        labelNames: ['provider'],
      }),
  );
  readonly providerMisconfigured = metric(
    'cb_provider_misconfigured',
    (name) =>
      new Gauge({
        name,
        help: '1 while the vendor refuses the configured key of a provider (authentication_failed)',
        labelNames: ['provider'],
        aggregator: 'max',
      }),
  );

  readonly deadLetters = metric(
    'cb_dead_letters_total',
    (name) =>
      new Counter({
        name,
        help: 'Dead letters recorded, by error kind and where they went (queue, spool, or lost when both failed)',
        labelNames: ['kind', 'stored'],
      }),
  );
  readonly deadLettersSpooled = metric(
    'cb_dead_letters_spooled',
    (name) => new Gauge({ name, help: 'Dead letters in the local spool, waiting for Redis' }),
  );
  readonly graphqlSubscriptions = metric(
    'cb_graphql_subscriptions',
    (name) => new Gauge({ name, help: 'Live GraphQL subscriptions on this node' }),
  );
  readonly graphqlSubscriptionsRefused = metric(
    'cb_graphql_subscriptions_refused_total',
    (name) =>
      new Counter({
        name,
        help: 'GraphQL subscriptions refused or ended by a limit (too_many, timeout, slow_consumer)',
        labelNames: ['reason'],
      }),
  );
  readonly workflowRuns = metric(
    'cb_workflow_runs_total',
    (name) =>
      new Counter({
        name,
        help: 'Workflow runs ended on this node, by status (completed, failed, cancelled)',
        labelNames: ['status'],
      }),
  );
  readonly workflowRunsActive = metric(
    'cb_workflow_runs_active',
    (name) => new Gauge({ name, help: 'Workflow runs executing on this node' }),
  );

  private readonly meters = new Map<Protocol, ChunkMeter>();

  constructor(config: AppConfig) {
    if (
      config.streaming.monitoring.metrics_enabled &&
      !register.getSingleMetric('process_cpu_seconds_total')
    ) {
      collectDefaultMetrics();
    }
  }

  meter(protocol: Protocol): ChunkMeter {
    let meter = this.meters.get(protocol);
    if (!meter) {
      meter = { chunks: this.chunksSent.labels(protocol), bytes: this.bytesSent.labels(protocol) };
      this.meters.set(protocol, meter);
    }
    return meter;
  }
}

function metric<T extends Metric>(name: string, create: (name: string) => T): T {
  return (register.getSingleMetric(name) as T | undefined) ?? create(name);
}
