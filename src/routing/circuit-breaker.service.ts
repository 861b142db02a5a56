import { settled } from '../common/settled';
import { randomUUID } from 'node:crypto';
import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type Redis from 'ioredis';
import { MetricsService } from '../analytics/metrics.service';
import { CompletionError, StreamErrorCode } from '../contract/error-code';
import { isObject } from '../common/is-object';
import type { AppLogger } from '../common/logging/logger';
import { ROOT_LOGGER } from '../common/logging/logging.module';
import { AppConfig, type ErrorHandlingConfig } from '../config/app-config';
import { RedisService } from '../redis/redis.service';
import { ADMIT, type LuaScript, PRUNE, RECORD, RESET } from './circuit-breaker.scripts';
import { withDeadline } from '../common/with-deadline';

export const CIRCUIT_STATES = ['closed', 'open', 'half_open'] as const;
export type CircuitState = (typeof CIRCUIT_STATES)[number];

export function isCircuitState(value: unknown): value is CircuitState {
  return typeof value === 'string' && (CIRCUIT_STATES as readonly string[]).includes(value);
}

export interface Admission {
  allowed: boolean;
  /** This request is one of the half-open trials; pass it back to record(). */
  trial: boolean;
  state: CircuitState;
  /** When refused: ms until the circuit lets trials through. */
  retryAfterMs?: number;
}

export interface CircuitView {
  provider: string;
  model: string;
  state: CircuitState;
  /** Over the current window. */
  requests: number;
  failures: number;
  /** Failures in % of requests over the current window. */
  errorRate: number;
  /** ISO times: when the circuit last opened (open and half-open), when it lets trials through (open). */
  openedAt?: string;
  retryAt?: string;
  trialsInFlight: number;
}

export interface CircuitTransition {
  provider: string;
  model: string;
  from: CircuitState;
  to: CircuitState;
  /** ISO time (Redis clock). */
  at: string;
  /** On opening from closed: the window's error %. */
  errorRate?: number;
  /** On opening: when trials will be let through (ISO). */
  retryAt?: string;
}

/** `ours`: this node's own request caused it (every node hears every transition). */
export type TransitionListener = (t: CircuitTransition, ours: boolean) => void;

/** What the scripts publish on `<prefix>circuit`: a transition plus the node that caused it. */
interface TransitionMessage {
  provider: string;
  model: string;
  node: string;
  from: CircuitState;
  to: CircuitState;
  atMs: number;
  errorRate?: number;
  retryAtMs?: number;
}

/** See circuit-breaker.scripts.ts for the reply layout. */
interface ScriptReply {
  state: CircuitState | 'missing';
  allowed: boolean;
  trial: boolean;
  retryAtMs: number;
  nowMs: number;
  changedAtMs: number;
  from?: CircuitState;
  requests: number;
  failures: number;
}

/** This node's knowledge of one circuit. Times are Redis clock ms. */
interface KnownCircuit {
  provider: string;
  model: string;
  state: CircuitState;
  retryAtMs: number;
  changedAtMs: number;
}

const STATE_GAUGE: Record<CircuitState, number> = { closed: 0, half_open: 1, open: 2 };
const BUCKETS = 10;
/** Deadline of the Redis calls on the request path (admit, record): a slow Redis must not slow requests. */
const REQUEST_PATH_DEADLINE_MS = 500;
const REFRESH_INTERVAL_MS = 5_000;
/** How long a node's successes on closed circuits wait to be written together. */
const OUTCOME_FLUSH_MS = 1_000;
const ERROR_LOG_INTERVAL_MS = 30_000;

/** A circuit's successes counted on this node, not written yet. */
interface PendingOutcomes {
  provider: string;
  model: string;
  successes: number;
}

/**
 * A circuit breaker per provider and model, its state shared by every node through Redis. Outcomes are counted
 * in a rolling window of buckets by a Lua script that also makes the transitions (closed -> open -> half-open ->
 * closed or open again) and publishes them; every node keeps the states in a local cache fed by those messages
 * and a periodic re-read, so closed circuits (the usual case) cost no Redis round trip on admission.
 *
 * Redis being away never stops traffic: admission fails open, outcomes are dropped (logged every 30s at most).
 */
@Injectable()
export class CircuitBreakerService implements OnModuleInit, OnApplicationShutdown {
  private readonly log: AppLogger;
  private readonly settings: ErrorHandlingConfig;
  private readonly prefix: string;
  private readonly channel: string;
  private readonly index: string;
  /** Tells this node's own transitions apart when they come back through pub/sub. */
  private readonly node = randomUUID();
  private readonly known = new Map<string, KnownCircuit>();
  private readonly listeners = new Set<TransitionListener>();
  /** Successes on closed circuits not written yet, by circuit id. */
  private readonly pending = new Map<string, PendingOutcomes>();
  private outcomeTimer?: NodeJS.Timeout;
  /** Redis clock minus this node's clock, from the last script reply. */
  private skewMs = 0;
  private subscriber?: Redis;
  private timer?: NodeJS.Timeout;
  private refreshing?: Promise<void>;
  private lastErrorLogAt = 0;
  private readonly onClientReady = () => void this.refresh();

  constructor(
    private readonly config: AppConfig,
    private readonly redis: RedisService,
    private readonly metrics: MetricsService,
    @Inject(ROOT_LOGGER) logger: AppLogger,
  ) {
    this.log = logger.child({ context: 'CircuitBreaker' });
    this.settings = config.streaming.error_handling;
    this.prefix = config.redis.key_prefix;
    this.channel = `${this.prefix}circuit`;
    this.index = `${this.prefix}circuits`;
  }

  async onModuleInit(): Promise<void> {
    const client = this.redis.client;
    const subscriber = client.duplicate({ enableOfflineQueue: true, maxRetriesPerRequest: null });
    this.subscriber = subscriber;
    subscriber.on('error', () => undefined); // RedisService reports Redis being away
    subscriber.on('message', (channel: string, message: string) => this.onMessage(channel, message));
    // After a reconnect ioredis subscribes again; messages sent meanwhile are lost, so re-read the states.
    subscriber.on('ready', this.onClientReady);
    client.on('ready', this.onClientReady);
    // Boot waits (connect_timeout at most) for the subscription and the command connection while Redis
    // answers; with Redis away it goes on at the first connection error.
    const wait = this.config.redis.connect_timeout;
    await Promise.all([
      settled(wait, subscriber, ['error'], subscriber.subscribe(this.channel)),
      client.status === 'ready' ? undefined : settled(wait, client, ['ready', 'error']),
    ]);
    if (client.status === 'ready') await this.refresh();
    this.timer = setInterval(() => void this.refresh(), REFRESH_INTERVAL_MS);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.flushOutcomes();
    this.redis.client.off('ready', this.onClientReady);
    this.subscriber?.off('ready', this.onClientReady);
    this.subscriber?.disconnect();
    this.listeners.clear();
  }

  async admit(provider: string, model: string): Promise<Admission> {
    const known = this.known.get(circuitId(provider, model));
    if (!known || known.state === 'closed') return { allowed: true, trial: false, state: 'closed' };
    if (known.state === 'open') {
      const retryAfterMs = known.retryAtMs - this.redisNow();
      if (retryAfterMs > 0) return { allowed: false, trial: false, state: 'open', retryAfterMs };
    }
    try {
      const reply = await this.run(ADMIT, provider, model, REQUEST_PATH_DEADLINE_MS, [
        this.settings.circuit_breaker_cool_down,
        this.settings.circuit_breaker_half_open_trials,
        this.idleTtl(),
      ]);
      const state = this.apply(provider, model, reply);
      if (reply.allowed) return { allowed: true, trial: reply.trial, state };
      return {
        allowed: false,
        trial: false,
        state,
        retryAfterMs: Math.max(0, reply.retryAtMs - reply.nowMs),
      };
    } catch (err) {
      this.redisTrouble(err, 'circuit state unavailable; letting the request through');
      return { allowed: true, trial: false, state: known.state };
    }
  }

  isOpen(provider: string, model: string): boolean {
    const known = this.known.get(circuitId(provider, model));
    return known?.state === 'open' && known.retryAtMs > this.redisNow();
  }

  /**
   * Counts an outcome. A success on a closed circuit (nearly every request) touches no Redis: this node's
   * successes are counted here and written together every `OUTCOME_FLUSH_MS`, or with this circuit's next
   * failure, so that the window a failure is judged by holds them. Failures and trials are written at once.
   */
  async record(provider: string, model: string, ok: boolean, trial: boolean): Promise<void> {
    const id = circuitId(provider, model);
    const state = this.known.get(id)?.state ?? 'closed';
    if (ok && !trial && state === 'closed') {
      const pending = this.pending.get(id);
      if (pending) pending.successes++;
      else this.pending.set(id, { provider, model, successes: 1 });
      this.outcomeTimer ??= setTimeout(() => void this.flushOutcomes(), OUTCOME_FLUSH_MS).unref();
      return;
    }
    const successes = trial ? 0 : this.takePending(id);
    await this.write(provider, model, successes + (ok ? 1 : 0), ok ? 0 : 1, trial);
  }

  /** Writes the successes counted since the last write (timer, admin reads, shutdown); never throws. */
  async flushOutcomes(): Promise<void> {
    if (this.outcomeTimer) clearTimeout(this.outcomeTimer);
    this.outcomeTimer = undefined;
    const batch = [...this.pending.values()];
    this.pending.clear();
    await Promise.all(batch.map((p) => this.write(p.provider, p.model, p.successes, 0, false)));
  }

  private takePending(id: string): number {
    const pending = this.pending.get(id);
    if (!pending) return 0;
    this.pending.delete(id);
    return pending.successes;
  }

  private async write(
    provider: string,
    model: string,
    successes: number,
    failures: number,
    trial: boolean,
  ): Promise<void> {
    const s = this.settings;
    try {
      const reply = await this.run(RECORD, provider, model, REQUEST_PATH_DEADLINE_MS, [
        successes,
        failures,
        trial ? 1 : 0,
        bucketMs(s.circuit_breaker_window),
        BUCKETS,
        s.circuit_breaker_threshold,
        s.circuit_breaker_min_requests,
        s.circuit_breaker_cool_down,
        s.circuit_breaker_half_open_trials,
        this.idleTtl(),
      ]);
      this.apply(provider, model, reply);
    } catch (err) {
      this.redisTrouble(err, 'circuit outcome not recorded');
    }
  }

  /**
   * Frees a half-open trial slot whose request ended without an outcome that says anything about the
   * provider (cancelled, a bad request, a caller's own key). Like `record`, it frees the oldest lease: trials
   * carry no id. Never throws.
   */
  async release(provider: string, model: string): Promise<void> {
    try {
      const trials = `${this.key(circuitId(provider, model))}:trials`;
      await withDeadline(this.redis.client.zpopmin(trials), REQUEST_PATH_DEADLINE_MS, 'Redis');
    } catch (err) {
      this.redisTrouble(err, 'circuit trial not released');
    }
  }

  /** Rejects with a 503-mapped CompletionError when Redis does not answer. */
  async list(): Promise<CircuitView[]> {
    await this.flushOutcomes();
    try {
      return (await this.readAll()).views;
    } catch (err) {
      throw unavailable(err);
    }
  }

  /** The circuit closed with an empty window, or undefined when Redis knows no such circuit. Rejects (503)
   * when Redis does not answer. */
  async reset(provider: string, model: string): Promise<CircuitView | undefined> {
    this.pending.delete(circuitId(provider, model)); // the window it would have counted in is cleared
    let reply: ScriptReply;
    try {
      reply = await this.run(RESET, provider, model, this.config.redis.health_timeout, [this.idleTtl()]);
    } catch (err) {
      throw unavailable(err);
    }
    if (reply.state === 'missing') return undefined;
    this.apply(provider, model, reply);
    return { provider, model, state: 'closed', requests: 0, failures: 0, errorRate: 0, trialsInFlight: 0 };
  }

  onTransition(listener: TransitionListener): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  /** Re-reads every circuit into the local cache (boot, reconnects, and every few seconds); never throws. */
  refresh(): Promise<void> {
    this.refreshing ??= this.readAll()
      .then(({ known, readAtMs }) => {
        const inRedis = new Set(known.map(idOf));
        for (const circuit of known) this.remember(circuit);
        // Circuits Redis no longer has (expired, or a missed reset) are closed.
        for (const [id, circuit] of this.known) {
          if (inRedis.has(id) || circuit.changedAtMs >= readAtMs) continue;
          if (circuit.state !== 'closed')
            this.remember({ ...circuit, state: 'closed', changedAtMs: readAtMs });
          this.known.delete(id);
        }
      })
      .catch(() => undefined)
      .finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private async readAll(): Promise<{ views: CircuitView[]; known: KnownCircuit[]; readAtMs: number }> {
    const deadline = this.config.redis.health_timeout;
    const client = this.redis.client;
    const ids = await withDeadline(client.smembers(this.index), deadline, 'Redis');
    const pipeline = client.pipeline().time();
    for (const id of ids)
      pipeline.hgetall(this.key(id)).zrange(`${this.key(id)}:trials`, '0', '-1', 'WITHSCORES');
    const results = (await withDeadline(pipeline.exec(), deadline, 'Redis')) ?? [];
    const values = results.map(([err, value]) => {
      if (err) throw err;
      return value;
    });
    const [time] = values;
    const nowMs = Array.isArray(time)
      ? Number(time[0]) * 1000 + Math.floor(Number(time[1]) / 1000)
      : Date.now();
    const views: CircuitView[] = [];
    const known: KnownCircuit[] = [];
    const gone: string[] = [];
    ids.forEach((id, i) => {
      const hash = values[1 + 2 * i];
      const trials = values[2 + 2 * i];
      const circuit = isObject(hash) ? readCircuit(hash) : undefined;
      if (!circuit || !isObject(hash)) return void gone.push(id);
      known.push(circuit);
      views.push(this.view(circuit, hash, Array.isArray(trials) ? trials : [], nowMs));
    });
    if (gone.length > 0) {
      await withDeadline(
        this.eval(PRUNE, [this.index, ...gone.map((id) => this.key(id))], gone),
        deadline,
        'Redis',
      );
    }
    views.sort((a, b) => a.provider.localeCompare(b.provider) || a.model.localeCompare(b.model));
    return { views, known, readAtMs: nowMs };
  }

  private view(
    circuit: KnownCircuit,
    hash: Record<string, unknown>,
    trials: unknown[],
    nowMs: number,
  ): CircuitView {
    const size = bucketMs(this.settings.circuit_breaker_window);
    const oldest = Math.floor(nowMs / size) - BUCKETS + 1;
    let requests = 0;
    let failures = 0;
    for (const [field, value] of Object.entries(hash)) {
      const match = /^([rf]):(\d+)$/.exec(field);
      if (!match || Number(match[2]) < oldest) continue;
      if (match[1] === 'r') requests += Number(value);
      else failures += Number(value);
    }
    // An open circuit past its cool-down hands out trials at the next admission: it is half-open in effect.
    const coolingDown = circuit.state === 'open' && circuit.retryAtMs > nowMs;
    const state: CircuitState = circuit.state === 'open' && !coolingDown ? 'half_open' : circuit.state;
    const openedAt = Number(hash.opened_at);
    const leases =
      circuit.state === 'half_open' ? trials.filter((v, i) => i % 2 === 1 && Number(v) > nowMs) : [];
    return {
      provider: circuit.provider,
      model: circuit.model,
      state,
      requests,
      failures,
      errorRate: requests > 0 ? Math.round((failures * 10_000) / requests) / 100 : 0,
      ...(state !== 'closed' && openedAt > 0 ? { openedAt: new Date(openedAt).toISOString() } : {}),
      ...(coolingDown ? { retryAt: new Date(circuit.retryAtMs).toISOString() } : {}),
      trialsInFlight: leases.length,
    };
  }

  /** Takes a script's answer into the cache; a transition it made is announced here (log, metric, listeners). */
  private apply(provider: string, model: string, reply: ScriptReply): CircuitState {
    this.skewMs = reply.nowMs - Date.now();
    if (reply.state === 'missing') return 'closed';
    this.remember({
      provider,
      model,
      state: reply.state,
      retryAtMs: reply.state === 'open' ? reply.retryAtMs : 0,
      changedAtMs: reply.changedAtMs,
    });
    if (reply.from) {
      const errorRate =
        reply.state === 'open' && reply.from === 'closed' && reply.requests > 0
          ? Math.round((reply.failures * 10_000) / reply.requests) / 100
          : undefined;
      this.transitioned(
        {
          provider,
          model,
          from: reply.from,
          to: reply.state,
          at: new Date(reply.changedAtMs).toISOString(),
          ...(errorRate === undefined ? {} : { errorRate }),
          ...(reply.state === 'open' ? { retryAt: new Date(reply.retryAtMs).toISOString() } : {}),
        },
        true,
      );
    }
    return reply.state;
  }

  private onMessage(channel: string, message: string): void {
    if (channel !== this.channel) return;
    const msg = parseMessage(message);
    if (!msg || msg.node === this.node) return; // our own transitions were taken from the script's answer
    const fresh = this.remember({
      provider: msg.provider,
      model: msg.model,
      state: msg.to,
      retryAtMs: msg.retryAtMs ?? 0,
      changedAtMs: msg.atMs,
    });
    if (!fresh) return;
    this.transitioned(
      {
        provider: msg.provider,
        model: msg.model,
        from: msg.from,
        to: msg.to,
        at: new Date(msg.atMs).toISOString(),
        ...(msg.errorRate === undefined ? {} : { errorRate: msg.errorRate }),
        ...(msg.retryAtMs === undefined ? {} : { retryAt: new Date(msg.retryAtMs).toISOString() }),
      },
      false,
    );
  }

  /** Updates the cache unless it already holds a later change; says whether it did. */
  private remember(circuit: KnownCircuit): boolean {
    const id = idOf(circuit);
    const current = this.known.get(id);
    if (current && current.changedAtMs > circuit.changedAtMs) return false;
    this.known.set(id, circuit);
    if (current?.state !== circuit.state) {
      this.metrics.circuitState.labels(circuit.provider, circuit.model).set(STATE_GAUGE[circuit.state]);
    }
    return true;
  }

  private transitioned(t: CircuitTransition, ours: boolean): void {
    if (ours) {
      this.metrics.circuitTransitions.labels(t.provider, t.model, t.to).inc();
      const fields = { provider: t.provider, model: t.model, from: t.from, to: t.to };
      if (t.to === 'open') {
        this.log.warn({ ...fields, errorRate: t.errorRate, retryAt: t.retryAt }, 'circuit opened');
      } else {
        this.log.info(fields, t.to === 'closed' ? 'circuit closed' : 'circuit half-open');
      }
    }
    for (const listener of this.listeners) {
      try {
        listener(t, ours);
      } catch (err) {
        this.log.error({ err }, 'circuit transition listener failed');
      }
    }
  }

  private run(
    script: LuaScript,
    provider: string,
    model: string,
    deadlineMs: number,
    args: Array<string | number>,
  ): Promise<ScriptReply> {
    const id = circuitId(provider, model);
    const key = this.key(id);
    const keys = [key, `${key}:trials`, this.index];
    const argv = [id, provider, model, this.node, this.channel, ...args];
    return withDeadline(this.eval(script, keys, argv), deadlineMs, 'Redis').then(parseReply);
  }

  /** EVALSHA, loading the script on NOSCRIPT (a restarted or flushed Redis). */
  private async eval(script: LuaScript, keys: string[], args: Array<string | number>): Promise<unknown> {
    const client = this.redis.client;
    try {
      return await client.evalsha(script.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return client.eval(script.source, keys.length, ...keys, ...args);
    }
  }

  private key(id: string): string {
    return `${this.prefix}circuit:${id}`;
  }

  /** How long an idle circuit is remembered (an open one: this long after its cool-down). */
  private idleTtl(): number {
    return 2 * this.settings.circuit_breaker_window + this.settings.circuit_breaker_cool_down;
  }

  private redisNow(): number {
    return Date.now() + this.skewMs;
  }

  private redisTrouble(err: unknown, message: string): void {
    const now = Date.now();
    if (now - this.lastErrorLogAt < ERROR_LOG_INTERVAL_MS) return;
    this.lastErrorLogAt = now;
    this.log.warn({ reason: err instanceof Error ? err.message : String(err) }, message);
  }
}

/** `<provider>:<model>`, with `%` and `:` escaped inside each part so that the pair reads back unambiguously. */
function circuitId(provider: string, model: string): string {
  const part = (s: string) => s.replace(/%/g, '%25').replace(/:/g, '%3A');
  return `${part(provider)}:${part(model)}`;
}

function idOf(circuit: { provider: string; model: string }): string {
  return circuitId(circuit.provider, circuit.model);
}

function bucketMs(windowMs: number): number {
  return Math.max(1, Math.ceil(windowMs / BUCKETS));
}

function readCircuit(hash: Record<string, unknown>): KnownCircuit | undefined {
  const { provider, model, state } = hash;
  if (typeof provider !== 'string' || typeof model !== 'string' || !isCircuitState(state)) return undefined;
  return {
    provider,
    model,
    state,
    retryAtMs: state === 'open' ? Number(hash.retry_at) || 0 : 0,
    changedAtMs: Number(hash.changed_at) || 0,
  };
}

function parseReply(value: unknown): ScriptReply {
  if (!Array.isArray(value) || value.length < 9) throw new Error('unexpected circuit script reply');
  const [state, allowed, trial, retryAt, now, changedAt, from, requests, failures] = value as unknown[];
  if (state !== 'missing' && !isCircuitState(state))
    throw new Error(`unexpected circuit state ${String(state)}`);
  return {
    state,
    allowed: Number(allowed) === 1,
    trial: Number(trial) === 1,
    retryAtMs: Number(retryAt),
    nowMs: Number(now),
    changedAtMs: Number(changedAt),
    from: isCircuitState(from) ? from : undefined,
    requests: Number(requests),
    failures: Number(failures),
  };
}

function parseMessage(message: string): TransitionMessage | undefined {
  let value: unknown;
  try {
    value = JSON.parse(message);
  } catch {
    return undefined;
  }
  if (!isObject(value)) return undefined;
  const { provider, model, node, from, to, atMs, errorRate, retryAtMs } = value;
  if (typeof provider !== 'string' || typeof model !== 'string' || typeof node !== 'string') return undefined;
  if (!isCircuitState(from) || !isCircuitState(to) || typeof atMs !== 'number') return undefined;
  return {
    provider,
    model,
    node,
    from,
    to,
    atMs,
    ...(typeof errorRate === 'number' ? { errorRate } : {}),
    ...(typeof retryAtMs === 'number' ? { retryAtMs } : {}),
  };
}

function unavailable(err: unknown): CompletionError {
  return new CompletionError(
    StreamErrorCode.ServiceUnavailable,
    'Circuit state is unavailable: Redis does not answer.',
    { retryable: true, cause: err },
  );
}
