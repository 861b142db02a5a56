import type { JwtConfig } from '../config/app-config';
import { importJwks, type VerificationKey } from './jwks';

/** A JWKS answer larger than this is refused (real ones are a few KB). */
const MAX_JWKS_BYTES = 256 * 1024;
/** The first retry after a failed fetch; each further one waits twice as long, up to the cooldown. */
const FIRST_RETRY_MS = 1_000;
const SOURCE = 'auth.jwt.jwks_url';

/** What the source tells about its fetches (the logger's shape, so a pino child fits). */
export interface JwksLog {
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
}

export interface RemoteJwksOptions {
  /** The clock (ms since the epoch) for the cooldown; tests pass their own. */
  now?: () => number;
  log?: JwksLog;
}

/** Called after a fetch changed the key set, with the keys that are gone. */
export type KeySetListener = (removed: readonly VerificationKey[]) => void;

/**
 * The IdP's key set behind `auth.jwt.jwks_url`, held in memory so that verifying a token never waits on the
 * network, except for a token that names a `kid` the set lacks (`refetch`, at most once per cooldown).
 *
 * - `start` fetches it once (waiting at most `jwks_timeout`); then it is fetched again every `jwks_cache_ttl`.
 * - A failed fetch (network, timeout, not 200, not a JWKS, no usable key) keeps the last good set and is retried
 *   after 1s, 2s, 4s... up to the cooldown, until one succeeds.
 * - `refetch` (an unknown kid) fetches unless any fetch started within `jwks_refetch_cooldown`, so a flood of
 *   made-up kids costs the IdP one request per cooldown at most. Concurrent callers share one fetch.
 *
 * The fetch is a plain GET (no redirects followed, no cookies, no credentials), bounded in time and size.
 */
export class RemoteJwks {
  private current?: readonly VerificationKey[];
  private lastAttemptAt = Number.NEGATIVE_INFINITY;
  private inFlight?: Promise<boolean>;
  private timer?: NodeJS.Timeout;
  private failures = 0;
  private stopped = false;
  private readonly listeners = new Set<KeySetListener>();
  private readonly url: URL;
  private readonly now: () => number;

  constructor(
    private readonly settings: Pick<JwtConfig, 'jwks_cache_ttl' | 'jwks_refetch_cooldown' | 'jwks_timeout'>,
    url: string,
    private readonly options: RemoteJwksOptions = {},
  ) {
    this.url = new URL(url);
    this.now = options.now ?? Date.now;
  }

  /** The last good key set; undefined until a fetch has succeeded. */
  get keys(): readonly VerificationKey[] | undefined {
    return this.current;
  }

  /** The URL without its query (which may hold something secret-ish), for messages and logs. */
  get where(): string {
    return `${this.url.origin}${this.url.pathname}`;
  }

  onChange(listener: KeySetListener): void {
    this.listeners.add(listener);
  }

  /** The first fetch; never throws (a failure is logged and retried in the background). */
  async start(): Promise<void> {
    await this.fetchNow();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.listeners.clear();
  }

  /**
   * A token named a `kid` the set lacks: fetches again unless a fetch started within the cooldown. Resolves
   * true when a fetch ran (or was running) and succeeded, so the caller may look again; never throws.
   */
  refetch(): Promise<boolean> {
    if (this.inFlight) return this.inFlight;
    if (this.now() - this.lastAttemptAt < this.settings.jwks_refetch_cooldown) return Promise.resolve(false);
    return this.fetchNow();
  }

  private fetchNow(): Promise<boolean> {
    if (this.stopped) return Promise.resolve(false);
    this.inFlight ??= this.fetchOnce().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async fetchOnce(): Promise<boolean> {
    this.lastAttemptAt = this.now();
    clearTimeout(this.timer);
    try {
      const keys = await this.download();
      if (this.stopped) return false;
      const previous = this.current;
      this.current = keys;
      this.failures = 0;
      this.schedule(this.settings.jwks_cache_ttl);
      const removed = previous?.filter((old) => !keys.some((k) => k.pem === old.pem)) ?? [];
      const added = keys.filter((k) => !previous?.some((old) => old.pem === k.pem));
      if (previous === undefined || added.length > 0 || removed.length > 0) {
        this.options.log?.info(
          { url: this.where, keys: keys.length, added: added.length, removed: removed.length },
          'JWKS fetched',
        );
      }
      if (removed.length > 0) for (const listener of this.listeners) listener(removed);
      return true;
    } catch (err) {
      if (this.stopped) return false;
      this.failures++;
      const retryMs = Math.min(
        this.settings.jwks_refetch_cooldown,
        FIRST_RETRY_MS * 2 ** (this.failures - 1),
      );
      this.schedule(retryMs);
      this.options.log?.warn(
        {
          url: this.where,
          err: { message: err instanceof Error ? err.message : String(err) },
          retryInMs: retryMs,
          keeping: this.current === undefined ? 'no keys yet' : `${this.current.length} keys fetched before`,
        },
        'JWKS fetch failed',
      );
      return false;
    }
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer);
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.fetchNow(), ms);
    this.timer.unref();
  }

  /** GET, bounded by jwks_timeout (body included) and MAX_JWKS_BYTES; throws an Error saying what went wrong. */
  private async download(): Promise<VerificationKey[]> {
    const signal = AbortSignal.timeout(this.settings.jwks_timeout);
    let text: string;
    try {
      const response = await fetch(this.url, {
        signal,
        redirect: 'error',
        credentials: 'omit',
        headers: { accept: 'application/jwk-set+json, application/json' },
      });
      if (response.status !== 200) {
        await response.body?.cancel().catch(() => undefined);
        throw new Error(`${SOURCE} answered HTTP ${response.status}`);
      }
      text = await readCapped(response, MAX_JWKS_BYTES);
    } catch (err) {
      if (signal.aborted) {
        throw new Error(`${SOURCE} did not answer within ${this.settings.jwks_timeout}ms`, { cause: err });
      }
      if (err instanceof Error && err.message.startsWith(SOURCE)) throw err;
      throw new Error(`${SOURCE} could not be fetched: ${describeFetchError(err)}`, { cause: err });
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new Error(`${SOURCE} is not valid JSON`);
    }
    const keys = await importJwks(json, SOURCE);
    if (keys.length === 0) throw new Error(`${SOURCE} holds no RSA or EC P-256 signature key`);
    return keys;
  }
}

/** The body as text, refusing one larger than `limit` bytes (announced or actual). */
async function readCapped(response: Response, limit: number): Promise<string> {
  const announced = Number(response.headers.get('content-length') ?? NaN);
  if (announced > limit) {
    await response.body?.cancel().catch(() => undefined);
    throw new Error(`${SOURCE} answered more than ${limit} bytes`);
  }
  const body = response.body;
  if (!body) return '';
  const chunks: Buffer[] = [];
  let size = 0;
  // Leaving the loop early (the throw) cancels the body.
  for await (const chunk of body as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > limit) throw new Error(`${SOURCE} answered more than ${limit} bytes`);
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** fetch() wraps the network error in a TypeError whose cause names it (ECONNREFUSED...). */
function describeFetchError(err: unknown): string {
  const cause =
    err instanceof Error ? (err.cause as { code?: unknown; message?: unknown } | undefined) : undefined;
  if (cause && typeof cause.code === 'string') return cause.code;
  if (cause && typeof cause.message === 'string') return cause.message;
  return err instanceof Error ? err.message : String(err);
}
