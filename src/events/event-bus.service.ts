import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { ChainableCommander, default as Redis } from 'ioredis';
import type { AppLogger } from '../common/logging/logger';
import { ROOT_LOGGER } from '../common/logging/logging.module';
import { AppConfig } from '../config/app-config';
import { redisUnavailable } from '../redis/redis-unavailable';
import { RedisService } from '../redis/redis.service';
import { withDeadline } from '../common/with-deadline';
import { type BusEnvelope, BusSubscription } from './bus-subscription';

/**
 * Numbers an event (the topic's counter, so any number of producers may write one topic), appends it to the
 * topic's kept log (trimmed to the replay limit), refreshes the expiry of the log, the counter and the summary,
 * and publishes it: one step, so the log order is the publish order and the numbering has no gaps.
 * KEYS: log, summary, counter. ARGV: the envelope after its `seq` field, retention ms, replay limit, channel.
 */
const PUBLISH_SCRIPT = `
local seq = redis.call('INCR', KEYS[3])
local envelope = '{"seq":' .. seq .. ',' .. ARGV[1]
redis.call('RPUSH', KEYS[1], envelope)
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[3]), -1)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
redis.call('PEXPIRE', KEYS[3], ARGV[2])
redis.call('PUBLISH', ARGV[4], envelope)
return seq`;

/**
 * The kept events after a `seq`: the log's tail from there (events are numbered without gaps, so that is the
 * last `counter - after` entries), and always at least the newest one, so a subscriber resuming past a topic's
 * end still sees that it ended. KEYS: log, counter. ARGV: after.
 */
const TAIL_SCRIPT = `
local count = tonumber(redis.call('GET', KEYS[2]) or '0') - tonumber(ARGV[1])
if count < 1 then count = 1 end
return redis.call('LRANGE', KEYS[1], -count, -1)`;

interface BusRedis extends Redis {
  cbBusPublish(
    log: string,
    summary: string,
    counter: string,
    rest: string,
    retentionMs: number,
    limit: number,
    channel: string,
  ): Promise<number>;
  cbBusTail(log: string, counter: string, after: number): Promise<string[]>;
}

interface Channel {
  subscriptions: Set<BusSubscription<unknown>>;
  /** Resolves once Redis confirmed the SUBSCRIBE. */
  ready: Promise<void>;
}

export interface SubscribeOptions<T> {
  /** Replay the topic's kept events first (topics opened with `open`). */
  replay: boolean;
  accept?: (event: T) => boolean;
  /** With `replay`: skip the events up to this `seq` (seen before a reconnect). */
  after?: number;
  /** The error a subscriber that falls too far behind ends with. */
  overflow: () => Error;
  /** Events queued for a slow reader before `overflow` (default: the replay limit and some). */
  maxQueued?: number;
}

/** A kept topic's own limits (defaults: `streaming.event_bus`). */
export interface TopicOptions {
  retentionMs?: number;
  /** Events kept for replay. */
  limit?: number;
}

const ERROR_LOG_INTERVAL_MS = 30_000;
const LISTEN_RETRY_MS = 5_000;

/**
 * The event bus behind subscriptions, on Redis, so a subscriber on one node receives events produced on another.
 *
 * A topic is either kept (`open`: a producer numbers its events, which are kept in a capped Redis list for
 * `event_bus.retention` after the last one, beside a JSON summary such as a completion's result) or live-only
 * (`publish`: system events). Each node holds one subscriber connection, SUBSCRIBEs to a topic's channel while
 * it has local subscribers, and fans messages out to them, parsing each message once.
 */
@Injectable()
export class EventBus implements OnModuleInit, OnApplicationShutdown {
  private readonly prefix: string;
  private readonly retentionMs: number;
  private readonly replayLimit: number;
  /** Longest wait on Redis when subscribing. */
  private readonly timeoutMs: number;
  private readonly channels = new Map<string, Channel>();
  private readonly log: AppLogger;
  private subscriber?: Redis;
  private connectedOnce = false;
  private lastErrorLogAt = 0;

  constructor(
    config: AppConfig,
    private readonly redis: RedisService,
    @Inject(ROOT_LOGGER) logger: AppLogger,
  ) {
    this.prefix = `${config.redis.key_prefix}bus:`;
    this.retentionMs = config.streaming.event_bus.retention;
    this.replayLimit = config.streaming.event_bus.replay_limit;
    this.timeoutMs = Math.max(config.redis.connect_timeout, 1_000);
    this.log = logger.child({ context: 'EventBus' });
    this.redis.client.defineCommand('cbBusPublish', { numberOfKeys: 3, lua: PUBLISH_SCRIPT });
    this.redis.client.defineCommand('cbBusTail', { numberOfKeys: 2, lua: TAIL_SCRIPT });
  }

  onModuleInit(): void {
    // Its own connection (a subscribed connection runs no other command); it queues commands while
    // reconnecting, and ioredis subscribes again to every channel once it is back.
    const subscriber = this.redis.client.duplicate({ enableOfflineQueue: true, maxRetriesPerRequest: null });
    subscriber.on('error', () => undefined); // the shared client already reports Redis trouble
    subscriber.on('message', (channel: string, message: string) => this.dispatch(channel, message));
    subscriber.on('ready', () => {
      // Messages published while the connection was down are lost: replaying subscribers read the log again.
      if (this.connectedOnce) this.recoverAll();
      this.connectedOnce = true;
    });
    this.subscriber = subscriber;
  }

  onApplicationShutdown(): void {
    for (const channel of this.channels.values()) {
      for (const subscription of channel.subscriptions) void subscription.return();
    }
    this.channels.clear();
    this.subscriber?.disconnect();
  }

  /**
   * Starts a kept topic with its summary; its producer then numbers and publishes events through the writer.
   * Throws (service_unavailable) when Redis cannot take it.
   */
  async open<T, S>(topic: string, summary: S, options: TopicOptions = {}): Promise<TopicWriter<T, S>> {
    const retentionMs = options.retentionMs ?? this.retentionMs;
    try {
      await this.redis.client.set(this.summaryKey(topic), JSON.stringify(summary), 'PX', retentionMs);
    } catch (err) {
      throw redisUnavailable(err, 'The event bus (Redis)');
    }
    return new TopicWriter<T, S>(this, topic, retentionMs, options.limit ?? this.replayLimit);
  }

  /** The `seq` of a kept topic's newest event (0 when it has none). */
  async head(topic: string): Promise<number> {
    try {
      return Number((await this.redis.client.get(`${this.prefix}${topic}:seq`)) ?? 0);
    } catch (err) {
      throw redisUnavailable(err, 'The event bus (Redis)');
    }
  }

  /** A kept topic's summary, or undefined when it is unknown or has expired. */
  async summary<S>(topic: string): Promise<S | undefined> {
    let raw: string | null;
    try {
      raw = await this.redis.client.get(this.summaryKey(topic));
    } catch (err) {
      throw redisUnavailable(err, 'The event bus (Redis)');
    }
    return raw === null ? undefined : (JSON.parse(raw) as S);
  }

  /** Publishes on a live-only topic (no log, no numbering). Never throws; lost while Redis is away. */
  publish<T>(topic: string, event: T): void {
    const envelope = `{"seq":0,${afterSeq(event, false)}`;
    this.redis.client
      .publish(this.channelOf(topic), envelope)
      .catch((err: unknown) => this.trouble(err, topic));
  }

  /** `publish`, as a command of a pipeline: sent with its other commands, after those queued before it. */
  publishIn<T>(pipeline: ChainableCommander, topic: string, event: T): void {
    pipeline.publish(this.channelOf(topic), `{"seq":0,${afterSeq(event, false)}`);
  }

  /**
   * Subscribes to a topic. With `replay`, the topic's kept events come first, then live ones, each once and in
   * order. The returned iterator must be read or `return()`ed.
   */
  async subscribe<T>(topic: string, options: SubscribeOptions<T>): Promise<BusSubscription<T>> {
    const channelName = this.channelOf(topic);
    const subscription: BusSubscription<T> = new BusSubscription<T>({
      maxQueued: options.maxQueued ?? this.replayLimit + 1_000,
      overflow: options.overflow,
      ...(options.accept ? { accept: options.accept } : {}),
      ...(options.after ? { after: options.after } : {}),
      ...(options.replay ? { history: (after: number) => this.history<T>(topic, after) } : {}),
      onClose: () => this.detach(channelName, subscription as BusSubscription<unknown>),
    });
    const channel = this.attach(channelName, subscription as BusSubscription<unknown>);
    try {
      await withDeadline(channel.ready, this.timeoutMs, 'SUBSCRIBE');
      await withDeadline(subscription.start(), this.timeoutMs, 'history read');
    } catch (err) {
      void subscription.return();
      throw redisUnavailable(err, 'The event bus (Redis)');
    }
    return subscription;
  }

  /**
   * Follows a kept topic: its kept events (after `after`), then live ones, to its last. Undefined when the
   * topic is unknown or has expired.
   */
  async follow<T>(
    topic: string,
    options: { after?: number; overflow: () => Error; maxQueued?: number; accept?: (event: T) => boolean },
  ): Promise<BusSubscription<T> | undefined> {
    if ((await this.summary(topic)) === undefined) return undefined;
    return this.subscribe<T>(topic, { replay: true, ...options });
  }

  /**
   * Hands each event of a live-only topic (control messages between nodes) to `handler` until the returned
   * function is called. While Redis is away it tries again every few seconds, so messages are heard once it
   * is back.
   */
  listen<T>(topic: string, handler: (event: T) => void): () => void {
    let stopped = false;
    let subscription: BusSubscription<T> | undefined;
    const run = async (): Promise<void> => {
      try {
        subscription = await this.subscribe<T>(topic, {
          replay: false,
          overflow: () => new Error(`${topic}: backlog`),
        });
        if (stopped) return void subscription.return();
        for await (const { event } of subscription) {
          try {
            handler(event);
          } catch (err) {
            this.log.error({ err, topic }, 'control message failed');
          }
        }
      } catch (err) {
        if (stopped) return;
        this.log.warn({ err, topic }, 'not hearing other nodes yet; retrying in 5s');
        setTimeout(() => void run(), LISTEN_RETRY_MS).unref();
      }
    };
    void run();
    return () => {
      stopped = true;
      void subscription?.return();
    };
  }

  /** Local subscriptions, over every topic. */
  get subscriptionCount(): number {
    let count = 0;
    for (const channel of this.channels.values()) count += channel.subscriptions.size;
    return count;
  }

  /** @internal TopicWriter's publish. */
  write(topic: string, rest: string, retentionMs: number, limit: number): Promise<unknown> {
    return (this.redis.client as BusRedis)
      .cbBusPublish(
        this.logKey(topic),
        this.summaryKey(topic),
        `${this.prefix}${topic}:seq`,
        rest,
        retentionMs,
        limit,
        this.channelOf(topic),
      )
      .catch((err: unknown) => this.trouble(err, topic));
  }

  /** @internal TopicWriter's summary update. */
  writeSummary(topic: string, summary: unknown, retentionMs: number): Promise<unknown> {
    return this.redis.client
      .set(this.summaryKey(topic), JSON.stringify(summary), 'PX', retentionMs)
      .catch((err: unknown) => this.trouble(err, topic));
  }

  private async history<T>(topic: string, after: number): Promise<Array<BusEnvelope<T>>> {
    const raw =
      after > 0
        ? await (this.redis.client as BusRedis).cbBusTail(
            this.logKey(topic),
            `${this.prefix}${topic}:seq`,
            after,
          )
        : await this.redis.client.lrange(this.logKey(topic), 0, -1);
    const envelopes: Array<BusEnvelope<T>> = [];
    for (const line of raw) {
      const envelope = parse<T>(line);
      if (envelope) envelopes.push(envelope);
    }
    return envelopes;
  }

  private attach(name: string, subscription: BusSubscription<unknown>): Channel {
    let channel = this.channels.get(name);
    if (!channel) {
      const subscriber = this.subscriber;
      const ready = subscriber
        ? subscriber.subscribe(name).then(() => undefined)
        : Promise.reject(new Error('event bus stopped'));
      ready.catch(() => undefined);
      channel = { subscriptions: new Set(), ready };
      this.channels.set(name, channel);
    }
    channel.subscriptions.add(subscription);
    return channel;
  }

  private detach(name: string, subscription: BusSubscription<unknown>): void {
    const channel = this.channels.get(name);
    if (!channel?.subscriptions.delete(subscription) || channel.subscriptions.size > 0) return;
    this.channels.delete(name);
    this.subscriber?.unsubscribe(name).catch(() => undefined);
  }

  private dispatch(name: string, message: string): void {
    const channel = this.channels.get(name);
    if (!channel) return;
    const envelope = parse<unknown>(message);
    if (!envelope) return;
    for (const subscription of channel.subscriptions) subscription.push(envelope);
  }

  private recoverAll(): void {
    for (const channel of this.channels.values()) {
      for (const subscription of channel.subscriptions) subscription.recover();
    }
  }

  private trouble(err: unknown, topic: string): void {
    const now = Date.now();
    if (now - this.lastErrorLogAt < ERROR_LOG_INTERVAL_MS) return;
    this.lastErrorLogAt = now;
    this.log.warn(
      { err: { message: err instanceof Error ? err.message : String(err) }, topic },
      'event not published: Redis unavailable',
    );
  }

  private channelOf(topic: string): string {
    return `${this.prefix}${topic}`;
  }

  private logKey(topic: string): string {
    return `${this.prefix}${topic}:log`;
  }

  private summaryKey(topic: string): string {
    return `${this.prefix}${topic}:summary`;
  }
}

/**
 * A kept topic's producer side (Redis numbers the events, so several writers may share a topic). Writes are
 * sent in order and not awaited (the stream never waits on Redis); `flushed()` waits for them.
 */
export class TopicWriter<T, S> {
  private pending: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly bus: EventBus,
    readonly topic: string,
    private readonly retentionMs: number,
    private readonly limit: number,
  ) {}

  publish(event: T, last = false): void {
    this.pending = this.bus.write(this.topic, afterSeq(event, last), this.retentionMs, this.limit);
  }

  /** Replaces the topic's summary (a completion's result when it ends). */
  summarize(summary: S): void {
    this.pending = this.bus.writeSummary(this.topic, summary, this.retentionMs);
  }

  /** Resolves once every write so far has been answered by Redis (or failed). */
  flushed(): Promise<void> {
    return this.pending.then(() => undefined);
  }
}

/** An envelope's JSON after its `seq` field (which Redis numbers). */
function afterSeq(event: unknown, last: boolean): string {
  return `"at":${Date.now()},"event":${JSON.stringify(event)}${last ? ',"last":true}' : '}'}`;
}

function parse<T>(raw: string): BusEnvelope<T> | undefined {
  try {
    const value = JSON.parse(raw) as Partial<BusEnvelope<T>>;
    if (typeof value.seq !== 'number' || typeof value.at !== 'number' || value.event === undefined)
      return undefined;
    return value as BusEnvelope<T>;
  } catch {
    return undefined;
  }
}
