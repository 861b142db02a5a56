import 'reflect-metadata';
import {
  ArrayMinSize,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsNotEmpty,
  IsNumber,
  IsObject,
  IsOptional,
  IsString,
  Matches,
  Max,
  Min,
  MinLength,
  ValidateBy,
  ValidateIf,
} from 'class-validator';
import { allowEntryProblem } from '../common/net/address-allow-list';
import { Duration, Nested, NestedList, NestedMap, Secret, Size } from './config.decorators';

/**
 * The one typed configuration object. Keys are the YAML keys (snake_case) so that what a user writes in
 * `config/*.yml` is exactly what the code reads. Durations are milliseconds, sizes are bytes.
 */

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export class ShutdownConfig {
  /** How long in-flight streams may run after SIGTERM before they are ended with an error frame. */
  @Duration() drain_timeout!: number;
  /** Pause between readiness turning 503 and refusing new work (lets load balancers notice). */
  @Duration() readiness_grace!: number;
}

/** Browser access (docs/auth.md#browsers). */
export class CorsConfig {
  /** Origins (`https://app.example.com`) allowed to call from a browser, with credentials; `*` allows any
   * origin without credentials. A request whose Origin is not listed is refused (403). */
  @IsArray()
  @Matches(/^(\*|https?:\/\/[^\s/]+)$/, {
    each: true,
    message: 'each must be an origin like https://app.example.com or *',
  })
  origins: string[] = [];
  /** How long a browser may cache a preflight answer. */
  @Duration() max_age = 600_000;
}

export class ServerConfig {
  @IsString() host!: string;
  @IsInt() @Min(0) @Max(65535) port!: number;
  @Size() body_limit!: number;
  @IsIn(LOG_LEVELS) log_level!: LogLevel;
  @IsBoolean() trust_proxy!: boolean;
  @Nested(() => ShutdownConfig) shutdown!: ShutdownConfig;
  /** `production` when NODE_ENV=production: then the service refuses to boot without authentication. */
  @IsIn(['development', 'production']) environment: 'development' | 'production' = 'development';
  /** Request headers, all together, larger than this are refused (431). */
  @Size() @Min(1024) @Max(1_048_576) max_header_size = 16_384;
  /** The request line and headers must arrive within this (a client drip-feeding headers is cut off: 408). */
  @Duration() @Min(1_000) headers_timeout = 10_000;
  /** A request's body must have arrived within this after its headers (the answer, a stream say, may then take
   * as long as it takes). */
  @Duration() @Min(1_000) request_timeout = 30_000;
  /** Connections one client address may hold open at once; past it a request is answered 429. 0 = no cap.
   * Not applied with trust_proxy (every connection then comes from the proxy, which caps its clients). */
  @IsInt() @Min(0) max_connections_per_ip = 256;
  /** Connections the kernel queues before the node accepts them (listen backlog; capped by net.core.somaxconn). */
  @IsInt() @Min(1) listen_backlog = 4096;
  /** WebSocket frames (both WebSocket protocols) larger than this close the connection (1009). */
  @Size() @Min(1024) max_frame_size = 4_194_304;
  @Nested(() => CorsConfig) cors: CorsConfig = new CorsConfig();
}

export class RedisConfig {
  @Secret() @Matches(/^rediss?:\/\//, { message: 'must be a redis:// or rediss:// URL' }) url!: string;
  /** Prefix for every key this service writes (BullMQ gets it as `prefix`, never as ioredis `keyPrefix`). */
  @IsString() key_prefix!: string;
  @Duration() connect_timeout!: number;
  @Duration() health_timeout!: number;
}

export class WebSocketProtocolConfig {
  @IsBoolean() enabled!: boolean;
  @IsInt() @Min(1) max_connections!: number;
  /** Per-connection send budget in bytes (socket bufferedAmount) before a slow consumer is paused. */
  @Size() @Min(1024, { message: 'must be at least 1KB' }) message_buffer_size!: number;
  /** At least 10ms (0 would ping, and terminate, every peer at once). */
  @Duration() @Min(10, { message: 'must be at least 10ms' }) ping_interval!: number;
  /** Completions one connection may run at once. */
  @IsInt() @Min(1) max_completions_per_connection!: number;
}

export class SseProtocolConfig {
  @IsBoolean() enabled!: boolean;
  @IsInt() @Min(1) max_connections!: number;
  @Duration() keepalive_interval!: number;
  /** Reconnection delay advertised to EventSource clients (`retry:` field). */
  @Duration() retry_timeout!: number;
}

/**
 * GraphQL (docs/security.md#graphql-authentication-first-query-limits-introspection): every document, over HTTP and graphql-ws alike, is measured before it is
 * validated or run; each limit refused names itself (`extensions.limit`) with its `max` and the `actual` value.
 */
export class GraphqlProtocolConfig {
  @IsBoolean() enabled!: boolean;
  @IsInt() @Min(1) max_subscriptions!: number;
  @Duration() subscription_timeout!: number;
  /** Bytes (UTF-8) of one GraphQL document (the `query` text); larger ones are not parsed (QUERY_TOO_LARGE). */
  @Size() @Min(256) @Max(1_048_576) max_document_size = 32_768;
  /** Lexical tokens one document may hold; the parser stops past it (QUERY_TOO_LARGE). At most 20,000 so
   * that no allowed document nests deep enough to strain the stack. */
  @IsInt() @Min(100) @Max(20_000) max_tokens = 5_000;
  /** Nesting of selection sets (`{ a { b } }` is 2), fragments expanded (QUERY_TOO_COMPLEX). */
  @IsInt() @Min(2) @Max(64) max_depth = 15;
  /** Aliased fields in the document, fragments expanded (each spread counts): aliases multiply answers. */
  @IsInt() @Min(0) max_aliases = 30;
  /** Fields, fragment spreads and inline fragments in the document, fragments expanded (each spread counts its
   * fragment's fields again). */
  @IsInt() @Min(1) @Max(100_000) max_fields = 1_000;
  /** Fields asked again at a place of the answer already asked for (same response name; fragments
   * expanded, selections merged): graphql-js compares every such pair when it validates. */
  @IsInt() @Min(0) max_repeated_fields = 50;
  /** Fields at the top of one operation (each one a resolver call: a completion, a run...). */
  @IsInt() @Min(1) max_root_fields = 20;
  /** Operation definitions in one document (one of them runs; every one is validated). */
  @IsInt() @Min(1) max_operations = 5;
  /** `__schema` / `__type` queries. Unset: on in development, off when server.environment is production. */
  @IsOptional() @IsBoolean() introspection?: boolean;
}

export class ProtocolsConfig {
  @Nested(() => WebSocketProtocolConfig) websocket!: WebSocketProtocolConfig;
  @Nested(() => SseProtocolConfig) sse!: SseProtocolConfig;
  @Nested(() => GraphqlProtocolConfig) graphql!: GraphqlProtocolConfig;
}

export class BufferingConfig {
  /** Upper bound, in bytes, of content coalesced into one outgoing chunk. */
  @Size() content_chunk_size!: number;
  /** Longest time a content delta may wait to be coalesced with the next one; 0 disables coalescing. */
  @Duration() max_buffer_time!: number;
  /** Coalesce consecutive deltas of the same kind (content with content, thinking with thinking). */
  @IsBoolean() batch_similar_events!: boolean;
}

export class PerformanceConfig {
  @IsInt() @Min(0) worker_threads!: number;
  /** Bytes of generated text one completion may hold in memory (non-streaming aggregation, buffers). */
  @Size() max_memory_per_stream!: number;
  @Size() global_memory_limit!: number;
  @IsInt() @Min(1) connection_pool_size!: number;
}

export class ErrorHandlingConfig {
  /** Retries of the same provider after a dropped connection (`connection_lost`) before moving on. */
  @IsInt() @Min(0) max_retries!: number;
  /** First retry backoff; it doubles on every retry, with full jitter, up to `max_retry_delay`. */
  @Duration() retry_delay!: number;
  @Duration() max_retry_delay!: number;
  /** A rate-limited provider's retry-after is waited out only when no other provider is left and it is at
   * most this long; longer, and the request fails with 429 and the provider's retry-after. */
  @Duration() max_rate_limit_wait!: number;
  /** A stream is held (nothing sent) until its first content, thinking or tool-call event; a provider that
   * has produced none within this time is abandoned for the next one. */
  @Duration() first_token_timeout!: number;
  /** The longest a completion may run, failovers included (a Node timer: at most 24 days); then it ends with
   * a provider_timeout error. With providers' idle_timeout (content, not bytes) it bounds every stream. */
  @Duration() @Min(1_000) @Max(2_147_483_647) max_stream_duration!: number;
  /** After a failure past the first token, continue on the next provider with the partial answer as an
   * assistant prefix (marked in the final chunk), instead of ending the stream with an error. */
  @IsBoolean() continue_after_failure!: boolean;
  /** Error percentage over the rolling window at which a provider's circuit opens. */
  @IsNumber() @Min(1) @Max(100) circuit_breaker_threshold!: number;
  /** The rolling window the error percentage is computed over. */
  @Duration() circuit_breaker_window!: number;
  /** Requests the window must hold before the percentage can open the circuit. */
  @IsInt() @Min(1) circuit_breaker_min_requests!: number;
  /** How long an open circuit refuses requests before letting trial requests through (half-open). */
  @Duration() circuit_breaker_cool_down!: number;
  /** Trial requests let through at once while half-open; as many successes close the circuit. */
  @IsInt() @Min(1) circuit_breaker_half_open_trials!: number;
  /** Dead letters kept; the oldest are dropped beyond this. */
  @IsInt() @Min(1) dead_letter_queue_size!: number;
  /** Append-only file dead letters go to while Redis is unreachable; moved into the queue when it returns. */
  @IsString() @IsNotEmpty() dead_letter_spool!: string;
}

export class MonitoringConfig {
  @IsBoolean() metrics_enabled!: boolean;
  @IsBoolean() tracing_enabled!: boolean;
  @IsNumber() @Min(0) @Max(1) trace_sample_rate!: number;
}

/** The Redis-backed event bus behind GraphQL subscriptions (and workflow streams). */
export class EventBusConfig {
  /** How long a stream's events (and a completion's result) are kept after its last event, for late subscribers. */
  @Duration() retention!: number;
  /** Events kept per stream for replay; a late subscriber to a longer stream gets the latest ones. */
  @IsInt() @Min(1) replay_limit!: number;
}

/** The stream hub: every completion's registry entry and its mirror in Redis, for followers on any node. */
export class StreamHubConfig {
  /** The owner's lease on a running completion (`stream:<id>`), refreshed every third of it; past it unrefreshed, followers get stream_owner_lost. */
  @Duration() @Min(1_000) lease_ttl!: number;
  /** How long events wait to be written to Redis together (one pipeline per burst); 0 = the next turn of the event loop. */
  @Duration() @Max(1_000) flush_interval!: number;
  /** A running stream no other node follows has its events written this often (once one does, as they come). */
  @Duration() @Min(10) @Max(10_000) unfollowed_flush_interval = 1_000;
  /** How long a streaming completion runs on once every follower has left (its client may reconnect and resume); 0 = cancel at once. */
  @Duration() orphan_grace!: number;
}

export class StreamingConfig {
  @Nested(() => ProtocolsConfig) protocols!: ProtocolsConfig;
  @Nested(() => EventBusConfig) event_bus!: EventBusConfig;
  @Nested(() => StreamHubConfig) hub!: StreamHubConfig;
  @Nested(() => BufferingConfig) buffering!: BufferingConfig;
  @Nested(() => PerformanceConfig) performance!: PerformanceConfig;
  @Nested(() => ErrorHandlingConfig) error_handling!: ErrorHandlingConfig;
  @Nested(() => MonitoringConfig) monitoring!: MonitoringConfig;
}

export const PROVIDER_TYPES = [
  'simulated',
  'openai',
  'openrouter',
  'openai-compatible',
  'anthropic',
  'google',
  'ollama',
] as const;
export type ProviderType = (typeof PROVIDER_TYPES)[number];

const isHttpProvider = (o: ProviderConfig) => o.type !== 'simulated';
const URL_PATTERN = /^https?:\/\/[^\s/]+(\/\S*)?$/;

export class ProviderConfig {
  @IsIn(PROVIDER_TYPES) type!: ProviderType;
  @IsBoolean() enabled = true;

  /** simulated: output speed; 0 means as fast as possible. */
  @ValidateIf((o: ProviderConfig) => o.type === 'simulated')
  @IsNumber()
  @Min(0)
  tokens_per_second = 0;

  /** simulated: delay before the first token. */
  @ValidateIf((o: ProviderConfig) => o.type === 'simulated')
  @Duration()
  first_token_delay = 0;

  /** The provider's API key. Usually left out here and read from the env var named by `api_key_env`. */
  @Secret() @IsOptional() @IsString() api_key?: string;
  /** Env var holding the API key (OPENAI_API_KEY...); read at boot when `api_key` is not set. */
  @IsOptional()
  @Matches(/^[A-Za-z_][A-Za-z0-9_]*$/, { message: 'must be an env var name' })
  api_key_env?: string;
  /** Base URL of the API, e.g. https://api.openai.com/v1. Each vendor type has a default except ollama
   * and openai-compatible. */
  @IsOptional() @Matches(URL_PATTERN, { message: 'must be an http:// or https:// URL' }) base_url?: string;
  /** Env var that overrides `base_url` when set (OPENAI_BASE_URL, OLLAMA_BASE_URL...). */
  @IsOptional()
  @Matches(/^[A-Za-z_][A-Za-z0-9_]*$/, { message: 'must be an env var name' })
  base_url_env?: string;
  /** Header that carries the key: `authorization` sends `Bearer <key>`; any other name sends the key as is
   * (Azure-style `api-key`). Defaults to the vendor's own header. */
  @IsOptional() @Matches(/^[A-Za-z0-9-]+$/, { message: 'must be a header name' }) auth_header?: string;
  /** Extra request headers (OpenRouter's HTTP-Referer and X-Title, Azure...). */
  @Secret() @IsObject() headers: Record<string, string> = {};
  /** Extra query parameters on every upstream URL (Azure-style `api-version`). */
  @IsObject() query: Record<string, string> = {};

  @ValidateIf(isHttpProvider) @Duration() connect_timeout = 10_000;
  /** Streams: time allowed until the response headers arrive. */
  @ValidateIf(isHttpProvider) @Duration() first_byte_timeout = 60_000;
  /** Streams: longest silence between two received chunks (keepalive comments count). */
  @ValidateIf(isHttpProvider) @Duration() idle_timeout = 60_000;
  /** Streams: the longest time without content (a content, thinking or tool-call delta, or the end); bytes that
   * make no event (keepalive comments, pings, a line that never ends) do not count. */
  @ValidateIf(isHttpProvider) @Duration() @Min(1) progress_timeout = 120_000;
  /** Streams: the longest line (SSE) or NDJSON line, and the longest SSE event's data, accepted from the vendor;
   * past it the attempt fails as invalid_response (and fails over). Also capped by max_memory_per_stream. */
  @ValidateIf(isHttpProvider) @Size() @Min(1024) max_frame_size = 1_048_576;
  /** Non-streaming requests: time allowed for the whole response. */
  @ValidateIf(isHttpProvider) @Duration() request_timeout = 600_000;
  /** Serve `<provider id>/<any upstream model>` even when the model is not in the catalogue. */
  @IsBoolean() allow_any_model = false;
  /** Providers that list their models (ollama): how often to refresh the list; 0 = only at boot. */
  @ValidateIf(isHttpProvider) @Duration() discovery_interval = 60_000;
}

export class ModelPricing {
  /** USD per million prompt tokens. */
  @IsNumber() @Min(0) prompt!: number;
  /** USD per million completion tokens. */
  @IsNumber() @Min(0) completion!: number;
}

export class ModelConfig {
  @Matches(/^[a-z0-9][a-z0-9_.-]*\/[\w.:@+-]+$/i, { message: 'must look like "provider/model"' }) id!: string;
  @IsString() provider!: string;
  /** The model name sent upstream. */
  @IsString() upstream!: string;
  @IsArray() @IsString({ each: true }) aliases: string[] = [];
  /** Models (ids or aliases) tried in this order when this one fails before its first token. */
  @IsOptional() @IsArray() @IsString({ each: true }) fallbacks?: string[];
  @IsOptional() @IsInt() @Min(1) context_length?: number;
  @IsOptional() @Nested(() => ModelPricing) pricing?: ModelPricing;
  /** Adapter-specific knobs, validated by the provider adapter at boot. */
  @IsObject() options: Record<string, unknown> = {};
}

export const ROUTING_STRATEGIES = ['priority', 'lowest_cost', 'lowest_latency', 'weighted'] as const;
export type RoutingStrategy = (typeof ROUTING_STRATEGIES)[number];

/** A model id that stands for a set of models and a strategy to order them (`router/auto`). */
export class VirtualModelConfig {
  @Matches(/^[a-z0-9][a-z0-9_.-]*\/[\w.:@+-]+$/i, { message: 'must look like "router/name"' }) id!: string;
  /** Defaults to `routing.strategy`. */
  @IsOptional() @IsIn(ROUTING_STRATEGIES) strategy?: RoutingStrategy;
  /** Catalogue model ids (or aliases); the strategy orders them, the rest are the fallbacks. */
  @IsArray() @ArrayMinSize(1) @IsString({ each: true }) models!: string[];
  /** `weighted`: relative share of traffic per model id (default 1). */
  @IsObject() weights: Record<string, number> = {};
  @IsOptional() @IsString() description?: string;
}

export class RoutingConfig {
  /** The strategy of virtual models that do not name one. */
  @IsIn(ROUTING_STRATEGIES) strategy!: RoutingStrategy;
  /** Weight of the newest time-to-first-token sample in the moving average `lowest_latency` ranks by. */
  @IsNumber() @Min(0.01) @Max(1) latency_smoothing!: number;
  @NestedList(() => VirtualModelConfig)
  virtual_models!: VirtualModelConfig[];
}

export const JWT_ALGORITHMS = ['HS256', 'RS256', 'ES256'] as const;
export type JwtAlgorithm = (typeof JWT_ALGORITHMS)[number];
/** `<stream type>:<read|write>`, with `*` for either part (`*:read`, `completion:*`, `*`). */
export const PERMISSION_PATTERN =
  /^(\*|(completion|workflow|agent|system)(:(read|write|\*))?|\*:(read|write))$/;

const usesJwt = (o: { mode?: string }) => o.mode === 'jwt';

export class JwtConfig {
  /** Algorithms a token may be signed with; HS256 needs `secret`, RS256/ES256 a public key or a JWKS file. */
  @IsArray() @ArrayMinSize(1) @IsIn(JWT_ALGORITHMS, { each: true }) algorithms: JwtAlgorithm[] = ['HS256'];
  /** HS256 shared secret (at least 32 bytes). Usually left out here and read from the env var `secret_env`. */
  @Secret()
  @IsOptional()
  @IsString()
  @MinLength(32, { message: 'must be at least 32 characters' })
  secret?: string;
  @IsOptional()
  @Matches(/^[A-Za-z_][A-Za-z0-9_]*$/, { message: 'must be an env var name' })
  secret_env?: string;
  /** RS256/ES256: a PEM public key (SPKI or certificate) file, relative to the app root. */
  @IsOptional() @IsString() @IsNotEmpty() public_key_file?: string;
  /** RS256/ES256: a JWKS file (`{"keys": [...]}`); a token's `kid` picks the key. */
  @IsOptional() @IsString() @IsNotEmpty() jwks_file?: string;
  /**
   * RS256/ES256: the IdP's JWKS endpoint, fetched at boot and every `jwks_cache_ttl`, and again (at most once
   * per `jwks_refetch_cooldown`) when a token names a `kid` it does not hold. https; http only on a loopback
   * host, or on any host while `server.environment` is development.
   */
  @IsOptional()
  @Matches(/^https?:\/\/[^\s/?#@]+(\/[^\s#]*)?$/, {
    message: 'must be an http(s) URL without credentials, like https://idp.example.com/.well-known/jwks.json',
  })
  jwks_url?: string;
  /** How long a fetched key set is used before it is fetched again (the last good set stays in use while the
   * IdP does not answer). */
  @Duration() @Min(1_000) @Max(86_400_000) jwks_cache_ttl = 600_000;
  /** At most one fetch per this for tokens naming an unknown `kid` (and for retries after a failure), so that
   * tokens with made-up kids cannot flood the IdP. */
  @Duration() @Min(100) @Max(3_600_000) jwks_refetch_cooldown = 30_000;
  /** The longest one JWKS fetch may take, body included. */
  @Duration() @Min(100) @Max(60_000) jwks_timeout = 5_000;
  /** Required `iss`, when set. */
  @IsOptional() @IsString() @IsNotEmpty() issuer?: string;
  /** Required `aud` (one of these), when set. */
  @IsOptional() @IsArray() @IsString({ each: true }) audience?: string[];
  /** Leeway on `exp` and `nbf`. */
  @Duration() @Max(600_000) clock_skew = 30_000;
  /** Tokens without `exp` are refused. */
  @IsBoolean() require_expiry = true;
}

/** Which token claims carry what (docs/auth.md#permissions). */
export class ClaimsConfig {
  @IsString() @IsNotEmpty() user_id = 'sub';
  /** An array of `<type>:<read|write>` (or an OAuth `scope` string with the same entries). */
  @IsString() @IsNotEmpty() permissions = 'permissions';
  @IsString() @IsNotEmpty() roles = 'roles';
  /** The rate-limit tier's name. */
  @IsString() @IsNotEmpty() tier = 'tier';
  /** Event types the user may receive (completed and error always are); absent = all. */
  @IsString() @IsNotEmpty() event_types = 'event_types';
  /** `own` (default: only the completions and runs the user started) or `all`. */
  @IsString() @IsNotEmpty() resource_scope = 'resource_scope';
  /** `true` / `false` turns PII sanitization of this user's streams on or off, whatever the route says. */
  @IsString() @IsNotEmpty() sanitize = 'pii_sanitization';
}

export class RateLimitTier {
  /** Requests (REST calls, WebSocket work messages, GraphQL operations) per rolling minute; 0 = unlimited. */
  @IsInt() @Min(0) requests_per_minute!: number;
  /** Streams open at once across every node (SSE, WebSocket completions and subscriptions, GraphQL
   * subscriptions); 0 = unlimited. */
  @IsInt() @Min(0) concurrent_streams!: number;
}

export class RateLimitsConfig {
  @IsBoolean() enabled = true;
  /** The tier of users whose token names none (or an unknown one). */
  @IsString() @IsNotEmpty() default_tier = 'default';
  @NestedMap(() => RateLimitTier) tiers!: Map<string, RateLimitTier>;
  /** A node refreshes its stream slots every third of this; slots of a crashed node expire after it. */
  @Duration() @Min(1_000) stream_lease_ttl = 60_000;
}

/** Token revocation (POST /admin/revocations): a denylist in Redis, mirrored in every node's memory. */
export class RevocationsConfig {
  /**
   * At least the longest lifetime (exp - iat) of the tokens the IdP issues: a subject's revocation is kept this
   * long (every token issued before it has expired by then), as is a `jti` revocation without `expiresAt`.
   */
  @Duration() @Min(60_000) @Max(31_622_400_000) max_token_lifetime = 86_400_000;
  /** Each node re-reads the denylist this often, beside the pub/sub messages (a missed message heals). */
  @Duration() @Min(1_000) @Max(3_600_000) resync_interval = 30_000;
}

export class AuthConfig {
  /** `jwt`: every edge wants a token. `none`: open (development only; refused when NODE_ENV=production). */
  @IsIn(['none', 'jwt']) mode!: 'none' | 'jwt';
  @ValidateIf(usesJwt) @Nested(() => JwtConfig) jwt: JwtConfig = new JwtConfig();
  @Nested(() => ClaimsConfig) claims: ClaimsConfig = new ClaimsConfig();
  /** What a token that carries no permissions claim may do. */
  @IsArray()
  @Matches(PERMISSION_PATTERN, { each: true, message: 'each must look like "completion:write"' })
  default_permissions: string[] = [];
  /** The role (in the roles claim) that opens `/admin` and every resource. */
  @IsString() @IsNotEmpty() admin_role = 'admin';
  /** A WebSocket that brought no token at the upgrade must send `{"type":"auth"}` within this. */
  @Duration() @Min(100) ws_auth_timeout = 5_000;
  /** The cookie the SSE GET form (EventSource) may carry its token in. */
  @IsString() @Matches(/^[\w-]+$/, { message: 'must be a cookie name' }) cookie_name = 'cb_token';
  @Nested(() => RateLimitsConfig) rate_limits!: RateLimitsConfig;
  @Nested(() => RevocationsConfig) revocations: RevocationsConfig = new RevocationsConfig();
}

export const PII_ENTITY_NAMES = ['email', 'phone', 'card', 'ssn', 'iban', 'ipv4', 'ipv6', 'secret'] as const;
export type PiiEntityName = (typeof PII_ENTITY_NAMES)[number];
export const MASK_STYLES = ['label', 'asterisks', 'partial', 'hash'] as const;
export type MaskStyle = (typeof MASK_STYLES)[number];
/** Where sanitization can be turned on or off (the edges, and workflow agents). */
export const SANITIZATION_ROUTES = ['http', 'sse', 'ws', 'graphql', 'workflow'] as const;
export type SanitizationRoute = (typeof SANITIZATION_ROUTES)[number];

export class CustomPiiRule {
  /** Names the mask (`[EMPLOYEE_ID]`). */
  @Matches(/^[a-z][a-z0-9_]{0,31}$/, { message: 'must be a lower-case name like employee_id' }) name!: string;
  /** A JavaScript regular expression (no flags other than `flags`). */
  @IsString() @IsNotEmpty() pattern!: string;
  @IsOptional() @Matches(/^[imsu]*$/, { message: 'may only hold the flags i, m, s, u' }) flags?: string;
  /** The longest text it can match: what a stream holds back at most for it. */
  @IsInt() @Min(1) @Max(1024) max_length = 64;
}

/** Streaming PII masking (docs/sanitization.md). */
export class SanitizationConfig {
  /** The master switch: off, nothing is masked anywhere (streams, dead letters, logs). */
  @IsBoolean() enabled!: boolean;
  /** Stream events are masked on every route unless `routes` or the caller's claim say otherwise. Off by
   * default: masking holds back the tail of each delta that may start an entity (about one delta). */
  @IsBoolean() streams!: boolean;
  @IsArray() @IsIn(PII_ENTITY_NAMES, { each: true }) entities!: PiiEntityName[];
  @IsIn(MASK_STYLES) mask_style!: MaskStyle;
  /** `hash` style: the HMAC key (the same on every node, so one value masks the same everywhere). */
  @Secret() @IsOptional() @IsString() @MinLength(16) hash_key?: string;
  @NestedList(() => CustomPiiRule) custom_rules: CustomPiiRule[] = [];
  /** Metadata (and log field) names whose values are replaced whole, beside the credential-looking ones. */
  @IsArray() @IsString({ each: true }) metadata_keys: string[] = [];
  /** Per route on or off; a route not listed follows `streams`. */
  @IsObject() routes: Partial<Record<SanitizationRoute, boolean>> = {};
  /** Also mask prompts stored in dead letters (a replay then sends the masked prompt). */
  @IsBoolean() dead_letters = true;
  /** Also mask log lines. */
  @IsBoolean() logs = true;
  /** The most characters a stream holds back while an entity may still be arriving. */
  @IsInt() @Min(16) @Max(4096) max_holdback = 256;
}

/** Petri-net workflows (docs/workflows.md). */
/** Webhook actions' outbound requests (docs/security.md#workflows-guard-patterns-and-webhooks). */
export class WebhooksConfig {
  /**
   * What webhooks may reach besides public addresses: hostnames (`hooks.internal`; `*.corp.example` for any
   * name below it), which may then resolve to any address, and IP addresses or CIDR ranges (`10.1.2.3`,
   * `10.0.0.0/8`, `::1`, `fd00::/8`). Loopback, private, link-local, CGNAT, multicast, unspecified, broadcast
   * and reserved addresses (and IPv6 forms carrying them) are refused unless listed here.
   */
  @IsArray()
  @ValidateBy({
    name: 'is_allow_entry',
    validator: {
      validate: (entries: unknown) =>
        !Array.isArray(entries) || entries.every((e) => allowEntryProblem(e) === undefined),
      defaultMessage: (args) => {
        const entries = Array.isArray(args?.value) ? (args.value as unknown[]) : [];
        const bad = entries.find((e) => allowEntryProblem(e) !== undefined);
        return `${JSON.stringify(bad) ?? String(bad)} ${allowEntryProblem(bad) ?? 'is invalid'}`;
      },
    },
  })
  allow: string[] = [];
  /** The most of a webhook's answer that is read; a longer answer fails the call. */
  @Size() @Min(1) max_response = 1024 * 1024;
}

export class WorkflowsConfig {
  /** Definitions loaded at boot (`*.yml`, `*.yaml`, `*.json`), relative to the app's root (where config/ is); '' = none. */
  @IsString() directory!: string;
  /** How long a run's state and event history are kept after its last event. */
  @Duration() @Min(1_000) run_retention!: number;
  /** Events kept per run (and per definition's stream) for late subscribers. */
  @IsInt() @Min(100) history_limit!: number;
  /** The longest a run may take unless its definition sets `timeout` (at most 24 days: a Node timer). */
  @Duration() @Min(1) @Max(2_147_483_647) run_timeout!: number;
  /** Transition firings per run unless its definition sets `max_steps` (stops endless cycles). */
  @IsInt() @Min(1) max_steps!: number;
  /** Transitions of one run executing at once. */
  @IsInt() @Min(1) max_parallel!: number;
  /** Runs executing at once on this node; more are refused with service_unavailable. */
  @IsInt() @Min(1) max_running!: number;
  /** AGENT_PROGRESS events of one agent are published at most this often (content in between is batched). */
  @Duration() progress_interval!: number;
  /** Webhook actions' timeout unless their definition sets one. */
  @Duration() @Min(1) @Max(300_000) webhook_timeout!: number;
  /**
   * A node refreshes the lease of each run it executes every third of this; a run whose lease expires (its node
   * crashed) is ended with a retryable ERROR by another node.
   */
  @Duration() @Min(300) lease_ttl!: number;
  /** The largest token data (serialized) a run may carry; past it the run fails. */
  @Size() @Min(1_024) max_token_data!: number;
  @Nested(() => WebhooksConfig) webhooks: WebhooksConfig = new WebhooksConfig();
}

export class AppConfig {
  @Nested(() => ServerConfig) server!: ServerConfig;
  @Nested(() => RedisConfig) redis!: RedisConfig;
  @Nested(() => StreamingConfig) streaming!: StreamingConfig;
  /** Provider instances by id; `type` picks the adapter. */
  @NestedMap(() => ProviderConfig) providers!: Map<string, ProviderConfig>;
  @NestedList(() => ModelConfig) models!: ModelConfig[];
  @Nested(() => RoutingConfig) routing!: RoutingConfig;
  @Nested(() => AuthConfig) auth!: AuthConfig;
  @Nested(() => SanitizationConfig) sanitization!: SanitizationConfig;
  @Nested(() => WorkflowsConfig) workflows!: WorkflowsConfig;
}
