import { randomUUID } from 'node:crypto';
import type { ChainableCommander } from 'ioredis';
import { hostname } from 'node:os';
import {
  type BeforeApplicationShutdown,
  Inject,
  Injectable,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import type { Protocol } from '../../analytics/metrics.service';
import { AuthError } from '../../auth/auth.error';
import { allowedTypes, eventVisibility } from '../../auth/event-visibility';
import type { AppLogger } from '../../common/logging/logger';
import { ROOT_LOGGER } from '../../common/logging/logging.module';
import { AppConfig } from '../../config/app-config';
import { CompletionError, RequestErrorCode, StreamErrorCode } from '../../contract/error-code';
import { owns, type Principal } from '../../contract/principal';
import { isTerminal, type StreamEvent } from '../../contract/stream-event';
import { EventBus } from '../../events/event-bus.service';
import { LifecycleService } from '../../lifecycle/lifecycle.service';
import { redisUnavailable } from '../../redis/redis-unavailable';
import { RedisService } from '../../redis/redis.service';
import { CompletionLog } from './completion-log';
import { type CompletionSummary, SummaryFold } from './completion-state';
import { type CompletionFollow, LocalFollower, RemoteFollower, type StreamIdentity } from './followers';
import { HubKeys } from './hub-keys';
import { HubMirror, type MirroredStream } from './hub-mirror';
import { HubReader, ownerLost } from './hub-reader';

/** What a completion's starter hands the hub: its identity, its assembled events, and how to stop it. */
export interface HubSource extends StreamIdentity {
  /** Every event (the starter's sanitization applied; each follower gets the types it may see). */
  readonly events: AsyncIterable<StreamEvent>;
  readonly protocol: Protocol;
  /** The user who started it; undefined while auth is off. */
  readonly owner?: string;
  abort(reason: Error): void;
}

/**
 * What the client leaving (its abort signal) does to a completion it started: undefined cancels it at once;
 * `followed`: it runs on while someone else follows it; `resume`: also for `streaming.hub.orphan_grace`
 * with nobody following, for its client to come back (Last-Event-ID).
 */
export type DetachMode = 'followed' | 'resume';

export interface OriginOptions {
  /** Event types its starter may receive; undefined = all. */
  eventTypes?: ReadonlySet<string>;
  signal?: AbortSignal;
  detach?: DetachMode;
}

export interface FollowOptions {
  /** Who follows (ownership and event types); undefined for the service's own reads. */
  viewer?: Principal;
  /** Resume after this sequence number (0 = from the first event). */
  after?: number;
  /** Leaving: ends the follower. */
  signal?: AbortSignal;
  /**
   * Whether this follower keeps an abandoned completion running (someone who asked for it by id, the
   * default); a subscriber to every completion does not.
   */
  keepsAlive?: boolean;
}

/** A running completion as the registry lists it (the lease's value). */
export interface RegistryEntry {
  completionId: string;
  node: string;
  owner?: string;
  protocol: Protocol;
  model: string;
  provider: string;
  createdAt: string;
}

/** A completion started somewhere, as announced to subscribers of every completion. */
export type StartedCompletion = RegistryEntry;

interface ControlMessage {
  /** cancel it; follow: a follower elsewhere keeps it alive and reads it; watch: reads it only. */
  type: 'cancel' | 'follow' | 'watch';
  completionId: string;
}

const CONTROL_TOPIC = 'hub-control';
const STARTS_TOPIC = 'hub-starts';
/** A finished completion stays followable from memory this long after Redis has it (or gave up on it). */
const LINGER_MS = 30_000;

/**
 * The one stream hub (the seed's DistributedStreamCoordinator and StreamMultiplexer): every completion, whatever
 * starts it, is registered under its `chatcmpl-…` id. On its node it is a log in memory that any number of
 * followers read (no Redis between a provider chunk and a same-node follower); it is mirrored to Redis in
 * batches (HubMirror: registry lease, events as a Redis Stream, summary), so a follower on any other node, or a
 * late one, gets the whole stream, history first (HubReader). Cancels reach the owner from anywhere. Ownership
 * and the allowed-event filter are applied here, for every protocol.
 */
@Injectable()
export class StreamHub implements OnModuleInit, BeforeApplicationShutdown, OnApplicationShutdown {
  readonly node = `${hostname()}-${randomUUID().slice(0, 8)}`;
  private readonly local = new Map<string, HubStream>();
  private readonly keys: HubKeys;
  private readonly mirror: HubMirror;
  private readonly reader: HubReader;
  private readonly log: AppLogger;
  private readonly startListeners = new Set<(entry: StartedCompletion) => void>();
  private readonly stopListening: Array<() => void> = [];
  private readonly interestTimer: NodeJS.Timeout;
  private readonly leaseTtlMs: number;
  private readonly orphanGraceMs: number;
  private readonly memoryLimit: number;
  private readonly retentionMs: number;

  constructor(
    config: AppConfig,
    private readonly redis: RedisService,
    private readonly bus: EventBus,
    private readonly lifecycle: LifecycleService,
    @Inject(ROOT_LOGGER) logger: AppLogger,
  ) {
    this.log = logger.child({ context: 'StreamHub' });
    const { hub, event_bus } = config.streaming;
    this.keys = new HubKeys(config.redis.key_prefix);
    this.leaseTtlMs = hub.lease_ttl;
    this.orphanGraceMs = hub.orphan_grace;
    this.retentionMs = event_bus.retention;
    this.memoryLimit = config.streaming.performance.max_memory_per_stream;
    this.mirror = new HubMirror(
      redis.client,
      this.keys,
      {
        leaseTtlMs: hub.lease_ttl,
        retentionMs: event_bus.retention,
        limit: event_bus.replay_limit,
        flushMs: hub.flush_interval,
        unfollowedFlushMs: hub.unfollowed_flush_interval,
      },
      this.log,
    );
    this.reader = new HubReader(redis.client, this.keys, event_bus.retention, this.log);
    // Followers here of completions elsewhere tell their owners they are there (an abandoned one runs on).
    this.interestTimer = setInterval(() => this.announceInterest(), Math.max(250, hub.lease_ttl / 3));
    this.interestTimer.unref();
  }

  onModuleInit(): void {
    this.stopListening.push(
      this.bus.listen<ControlMessage>(CONTROL_TOPIC, (message) => this.onControl(message)),
      this.bus.listen<StartedCompletion>(STARTS_TOPIC, (entry) => {
        if (entry.node !== this.node) this.announceStart(entry);
      }),
    );
  }

  /** After the drain (the root's shutdown runs first): followers of other nodes' streams are told to move. */
  beforeApplicationShutdown(): void {
    this.reader.stop({
      type: 'error',
      completionId: '',
      error: {
        code: StreamErrorCode.ServiceUnavailable,
        message:
          'This node is shutting down; follow the completion again (after your last event) on another.',
        retryable: true,
      },
    });
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.interestTimer);
    for (const stop of this.stopListening) stop();
    await this.mirror.flushNow().catch(() => undefined);
    this.mirror.stop();
  }

  /**
   * Registers a completion (CompletionService does, for every one) and returns its starter's follower; the
   * completion runs from that follower's first read, so a starter that never reads leaves nothing behind.
   */
  origin(source: HubSource, options: OriginOptions = {}): CompletionFollow {
    const stream = new HubStream(source, this.node, this.memoryLimit, () => this.settled(stream));
    stream.followers = 1;
    const accept = allowedTypes<StreamEvent>(options.eventTypes);
    const follower = new LocalFollower(
      stream,
      stream.log,
      0,
      accept,
      () => this.left(stream, true),
      () => this.run(stream),
    );
    stream.starter = follower;
    const signal = options.signal;
    if (signal) {
      const onAbort = () => {
        if (options.detach === undefined) stream.abort(signal.reason as Error);
        else {
          stream.resumable = options.detach === 'resume';
          follower.close();
        }
      };
      if (signal.aborted) queueMicrotask(onAbort);
      else signal.addEventListener('abort', onAbort, { once: true });
      stream.onFinish.push(() => signal.removeEventListener('abort', onAbort));
    }
    return follower;
  }

  /** Registers and starts a completion nobody reads yet (GraphQL createCompletion): it runs to its end. */
  launch(source: HubSource): CompletionSummary {
    const stream = new HubStream(source, this.node, this.memoryLimit, () => this.settled(stream));
    stream.detached = true;
    this.run(stream);
    return stream.summary();
  }

  /**
   * Follows a completion from any node: its events after `after` (history first), then live ones, to its end.
   * Throws not_found (unknown or past retention), forbidden (another user's, for an own-scoped viewer), or
   * service_unavailable (it runs elsewhere and Redis does not answer).
   */
  async follow(completionId: string, options: FollowOptions = {}): Promise<CompletionFollow> {
    const { viewer, signal } = options;
    const after = options.after ?? 0;
    const accept = viewer ? eventVisibility<StreamEvent>(viewer, false) : undefined;
    const found = this.local.get(completionId);
    // A resume from before what the log still holds reads the stream from Redis, as another node would.
    const local = found && after >= found.log.first - 1 ? found : undefined;
    let follower: CompletionFollow;
    if (local) {
      assertOwner(viewer, local.owner);
      const keepsAlive = options.keepsAlive !== false;
      if (keepsAlive) local.join();
      follower = new LocalFollower(local, local.log, after, accept, () => this.left(local, keepsAlive));
    } else {
      const summary = await this.registered(completionId);
      if (!summary) throw notFound(completionId);
      assertOwner(viewer, summary.owner);
      const remote: RemoteFollower = new RemoteFollower(
        completionId,
        summary.created,
        summary,
        after,
        accept,
        REMOTE_HIGH_WATER,
        () => this.reader.remove(remote),
        () => this.reader.wake(),
      );
      this.reader.add(remote);
      if (summary.status === 'running')
        this.tellOwner(options.keepsAlive === false ? 'watch' : 'follow', completionId);
      follower = remote;
    }
    if (signal) {
      if (signal.aborted) follower.close();
      else signal.addEventListener('abort', () => follower.close(), { once: true });
    }
    return follower;
  }

  /**
   * A completion's state from any node, and its whole answer once it ended; a running one whose owner's lease
   * lapsed reads as failed with stream_owner_lost.
   */
  async summary(completionId: string, viewer?: Principal): Promise<CompletionSummary> {
    const local = this.local.get(completionId);
    if (local) {
      assertOwner(viewer, local.owner);
      return local.summary();
    }
    const [summary, leased] = await this.read(completionId);
    if (!summary) throw notFound(completionId);
    assertOwner(viewer, summary.owner);
    if (summary.status === 'running' && !leased) {
      return {
        ...summary,
        status: 'failed',
        error: ownerLost(completionId).error,
      };
    }
    return summary;
  }

  /** Cancels a running completion wherever it runs; false when it had already ended. */
  async cancel(completionId: string, viewer?: Principal): Promise<boolean> {
    const local = this.local.get(completionId);
    if (local) {
      assertOwner(viewer, local.owner);
      if (local.log.done) return false;
      local.abort(cancelled());
      return true;
    }
    const summary = await this.summary(completionId, viewer);
    if (summary.status !== 'running') return false;
    this.tellOwner('cancel', completionId);
    return true;
  }

  /** Every running completion on every node (the registry), oldest first. */
  async list(): Promise<RegistryEntry[]> {
    try {
      const ids = await this.redis.client.zrange(this.keys.index, '0', '-1');
      if (ids.length === 0) return [];
      const leases = await this.redis.client.mget(ids.map((id) => this.keys.lease(id)));
      const entries: RegistryEntry[] = [];
      const stale: string[] = [];
      leases.forEach((lease, i) => {
        if (lease === null) stale.push(ids[i]!);
        else entries.push(JSON.parse(lease) as RegistryEntry);
      });
      if (stale.length > 0) await this.redis.client.zrem(this.keys.index, ...stale);
      return entries;
    } catch (err) {
      throw redisUnavailable(err, 'The stream registry (Redis)');
    }
  }

  /**
   * The drain: completions every client has left (waiting out the orphan grace) are cancelled now rather
   * than holding the shutdown up.
   */
  cancelAbandoned(): void {
    for (const stream of this.local.values()) {
      if (stream.orphanTimer && stream.followers === 0 && !stream.log.done) stream.abort(abandoned(0));
    }
  }

  /** Events this node holds in memory for a completion it runs (or ran lately); undefined for others. */
  heldEvents(completionId: string): number | undefined {
    const log = this.local.get(completionId)?.log;
    return log ? log.head - log.first + 1 : undefined;
  }

  /** Completions running on this node now. */
  get localCount(): number {
    let count = 0;
    for (const stream of this.local.values()) if (!stream.log.done) count++;
    return count;
  }

  /**
   * Hears of every completion as it starts, on any node (this one's at once; others' through Redis while it
   * answers). Returns the function that stops it.
   */
  onStart(listener: (entry: StartedCompletion) => void): () => void {
    this.startListeners.add(listener);
    return () => this.startListeners.delete(listener);
  }

  /** Writes what is pending to Redis now (tests, shutdown). */
  flush(): Promise<void> {
    return this.mirror.flushNow();
  }

  private run(stream: HubStream): void {
    if (stream.started) return;
    stream.started = true;
    this.local.set(stream.completionId, stream);
    // Registered in Redis with its first events, one pipeline for both (no client has its id before them), or
    // after REGISTER_WITHIN_MS without any; at once when its id is known already (launched: GraphQL).
    if (stream.detached) this.mirror.note(stream);
    else stream.registerTimer = setTimeout(() => this.mirror.note(stream), REGISTER_WITHIN_MS).unref();
    const entry = stream.entry();
    this.announceStart(entry);
    // Announced to the other nodes once registered (so a subscriber elsewhere finds it), with its registration.
    stream.announce = (pipeline) => this.bus.publishIn<StartedCompletion>(pipeline, STARTS_TOPIC, entry);
    void this.pump(stream);
  }

  private async pump(stream: HubStream): Promise<void> {
    const { log } = stream;
    try {
      for await (const event of stream.source.events) {
        const terminal = isTerminal(event);
        stream.append(event, terminal);
        this.mirror.note(stream);
        if (terminal) break;
        // Paced by its starter while it follows: a client that does not read holds the provider back
        // (backpressure), rather than the node holding an ever longer answer for it.
        const starter = stream.starter;
        if (starter && !starter.closed && log.head - starter.seq >= PACE_WINDOW) {
          await new Promise<void>((resolve) => (starter.onTake = resolve));
        }
      }
    } catch (err) {
      this.log.error({ err, completion_id: stream.completionId }, 'completion stream failed in the hub');
    }
    if (!log.done) {
      stream.append(
        {
          type: 'error',
          completionId: stream.completionId,
          error: {
            code: StreamErrorCode.Internal,
            message: 'The completion ended without a result.',
            retryable: true,
          },
        },
        true,
      );
      this.mirror.note(stream);
    }
    stream.finish();
  }

  /** A follower that kept it alive left: with nobody left, an abandoned completion is stopped (or waits). */
  private left(stream: HubStream, keptAlive: boolean): void {
    if (!keptAlive) return;
    stream.followers--;
    if (stream.followers > 0 || stream.detached || stream.log.done || !stream.started) return;
    // A draining node keeps nothing for a client that left: it would resume on another node, which cannot
    // continue this one's stream.
    const grace = stream.resumable && this.lifecycle.acceptingWork ? this.orphanGraceMs : 0;
    const check = () => {
      stream.orphanTimer = undefined;
      if (stream.followers > 0 || stream.log.done) return;
      const wanted = stream.remoteInterestUntil - Date.now();
      if (wanted > 0) stream.orphanTimer = setTimeout(check, wanted).unref();
      else stream.abort(abandoned(grace));
    };
    if (grace === 0 && stream.remoteInterestUntil <= Date.now()) check();
    else stream.orphanTimer = setTimeout(check, Math.max(grace, 1)).unref();
  }

  private settled(stream: HubStream): void {
    stream.trim();
    setTimeout(() => {
      if (this.local.get(stream.completionId) === stream) this.local.delete(stream.completionId);
    }, LINGER_MS).unref();
  }

  private onControl(message: ControlMessage): void {
    const stream =
      typeof message.completionId === 'string' ? this.local.get(message.completionId) : undefined;
    if (!stream || stream.log.done) return;
    if (message.type === 'cancel') return stream.abort(cancelled());
    const until = Date.now() + this.leaseTtlMs;
    if (message.type === 'follow') stream.remoteInterestUntil = until;
    // Read elsewhere: its events go to Redis as they come, starting with what is pending.
    stream.remoteReadUntil = until;
    this.mirror.hurry(stream);
  }

  private tellOwner(type: ControlMessage['type'], completionId: string): void {
    this.bus.publish<ControlMessage>(CONTROL_TOPIC, { type, completionId });
  }

  private announceInterest(): void {
    for (const completionId of this.reader.followed()) this.tellOwner('follow', completionId);
  }

  private announceStart(entry: StartedCompletion): void {
    for (const listener of this.startListeners) {
      try {
        listener(entry);
      } catch (err) {
        this.log.error({ err }, 'completion start listener failed');
      }
    }
  }

  /**
   * The summary of a completion another node runs; a follower may ask for it the moment its client has the id,
   * a hair before the owner's first write lands, so an unknown id is asked again for a moment.
   */
  private async registered(completionId: string): Promise<CompletionSummary | undefined> {
    for (let attempt = 0; ; attempt++) {
      const [summary] = await this.read(completionId);
      if (summary || attempt >= REGISTRATION_RETRIES) return summary;
      await new Promise((resolve) => setTimeout(resolve, REGISTRATION_RETRY_MS));
    }
  }

  /** The summary in Redis, and whether its owner's lease is there. */
  private async read(completionId: string): Promise<[CompletionSummary | undefined, boolean]> {
    let raw: Array<string | null>;
    try {
      raw = await this.redis.client.mget(this.keys.state(completionId), this.keys.lease(completionId));
    } catch (err) {
      throw redisUnavailable(err, 'The stream registry (Redis)');
    }
    const [state, lease] = raw;
    return [state ? (JSON.parse(state) as CompletionSummary) : undefined, lease !== null];
  }
}

/** How often, and how far apart, a follower asks again for a completion not in Redis yet (about 200 ms in all). */
const REGISTRATION_RETRIES = 4;
const REGISTRATION_RETRY_MS = 50;

/** A completion without an event yet is registered in Redis this long after it started. */
const REGISTER_WITHIN_MS = 250;

/** Events the hub reads ahead of a starter that does not read before it waits for it. */
const PACE_WINDOW = 32;

/** The recent events a running completion keeps in memory for followers that join or resume here. */
const KEEP_IN_MEMORY = 512;
/** Events let go of at once (the log is copied each time). */
const DROP_BATCH = 256;

/** A remote follower's queue before the reader leaves it out until it drains. */
const REMOTE_HIGH_WATER = 512;

/** One completion this node runs, as the hub holds it. */
class HubStream implements MirroredStream, StreamIdentity {
  readonly log = new CompletionLog();
  readonly mirror: MirroredStream['mirror'];
  readonly onFinish: Array<() => void> = [];
  started = false;
  /** Nobody's follower keeps it alive: it runs to its end (GraphQL createCompletion). */
  detached = false;
  /** Its starter's client may come back: abandoned, it runs on for the orphan grace. */
  resumable = false;
  /** Its starter's follower, which paces it (absent for a launched one). */
  starter?: LocalFollower;
  /** Followers that keep it alive. */
  followers = 0;
  /** A follower on another node said it is there, until then. */
  remoteInterestUntil = 0;
  /** A follower on another node reads it (keeping it alive or not), until then. */
  remoteReadUntil = 0;
  orphanTimer?: NodeJS.Timeout;
  announce?: (pipeline: ChainableCommander) => void;
  /** Registers it in Redis if no event has come by then. */
  registerTimer?: NodeJS.Timeout;
  private finalSummary?: CompletionSummary;
  private readonly fold: SummaryFold;
  private readonly createdAt: string;

  constructor(
    readonly source: HubSource,
    private readonly node: string,
    memoryLimit: number,
    readonly settled: () => void,
  ) {
    this.mirror = { registered: false, written: 0, finished: false, startedAt: Date.now(), queued: false };
    this.createdAt = new Date(source.created * 1000).toISOString();
    this.fold = new SummaryFold(memoryLimit);
  }

  get completionId(): string {
    return this.source.completionId;
  }
  get created(): number {
    return this.source.created;
  }
  get model(): string {
    return this.source.model;
  }
  get provider(): string {
    return this.source.provider;
  }
  get owner(): string | undefined {
    return this.source.owner;
  }
  get head(): number {
    return this.log.head;
  }
  between(from: number, to: number): StreamEvent[] {
    return this.log.between(from, to);
  }
  get done(): boolean {
    return this.log.done;
  }

  join(): void {
    this.followers++;
    if (this.orphanTimer) clearTimeout(this.orphanTimer);
    this.orphanTimer = undefined;
  }

  abort(reason: Error): void {
    if (!this.log.done) this.source.abort(reason);
  }

  /** A new event: in the log, and folded into the summary. */
  append(event: StreamEvent, terminal: boolean): void {
    if (this.registerTimer) {
      clearTimeout(this.registerTimer);
      this.registerTimer = undefined;
    }
    this.log.append(event, terminal);
    this.fold.add(event);
    if (this.log.head - this.log.first >= KEEP_IN_MEMORY + DROP_BATCH) this.trim();
  }

  /**
   * Lets go of the events Redis has, every follower here is past, and that are not among the last
   * KEEP_IN_MEMORY (a resume from further back reads them from Redis): a long completion holds its recent
   * events, not all of them. While Redis is away nothing is written, so nothing goes.
   */
  trim(): void {
    this.log.drop(Math.min(this.mirror.written, this.log.head - KEEP_IN_MEMORY));
  }

  finish(): void {
    if (this.orphanTimer) clearTimeout(this.orphanTimer);
    for (const hook of this.onFinish) hook();
    this.finalSummary = this.fold.finished(this.running(), this);
  }

  entry(): RegistryEntry {
    const entry: RegistryEntry = {
      completionId: this.completionId,
      node: this.node,
      protocol: this.source.protocol,
      model: this.model,
      provider: this.provider,
      createdAt: this.createdAt,
    };
    if (this.owner !== undefined) entry.owner = this.owner;
    return entry;
  }

  registryEntry(): string {
    return JSON.stringify(this.entry());
  }

  summary(): CompletionSummary {
    return this.finalSummary ?? this.running();
  }

  private running(): CompletionSummary {
    const summary: CompletionSummary = {
      completionId: this.completionId,
      status: 'running',
      model: this.model,
      provider: this.provider,
      protocol: this.source.protocol,
      node: this.node,
      created: this.created,
      createdAt: this.createdAt,
      events: this.log.head,
      content: null,
      reasoning: null,
      toolCalls: [],
    };
    if (this.owner !== undefined) summary.owner = this.owner;
    return summary;
  }
}

function assertOwner(viewer: Principal | undefined, owner: string | undefined): void {
  if (viewer && !owns(viewer, owner)) throw AuthError.forbidden('This completion belongs to another user.');
}

function cancelled(): CompletionError {
  return new CompletionError(StreamErrorCode.Cancelled, 'The completion was cancelled.');
}

function abandoned(graceMs: number): CompletionError {
  return new CompletionError(
    StreamErrorCode.Cancelled,
    graceMs > 0
      ? `Every client of this completion left and none came back within streaming.hub.orphan_grace (${graceMs} ms).`
      : 'The client left.',
  );
}

export function notFound(completionId: string): CompletionError {
  return new CompletionError(
    RequestErrorCode.NotFound,
    `No completion ${completionId}: it never existed here or its retention ended.`,
    { param: 'completionId' },
  );
}
