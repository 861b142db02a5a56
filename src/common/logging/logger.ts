import { hostname } from 'node:os';
import type { FastifyBaseLogger } from 'fastify';
import pino from 'pino';

/** The structured logger (pino) as Fastify types it, so request loggers and the root logger are one type. */
export type AppLogger = FastifyBaseLogger;

/** Header and field paths never written to logs. */
const REDACT = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'req.headers["x-provider-api-key"]',
  'req.headers["proxy-authorization"]',
  'res.headers["set-cookie"]',
  '*.api_key',
  '*.apiKey',
  '*.password',
  '*.secret',
  '*.token',
];

interface LoggedRequest {
  method: string;
  url: string;
  id?: string;
  ip?: string;
}

/**
 * Request lines carry the path and the names of query parameters, never their values: the EventSource form
 * puts prompts (and later tokens) in the query string.
 */
export function describeRequestUrl(url: string): { path: string; query_keys?: string[] } {
  const q = url.indexOf('?');
  if (q === -1) return { path: url };
  const keys = [...new URLSearchParams(url.slice(q + 1)).keys()];
  return { path: url.slice(0, q), query_keys: [...new Set(keys)] };
}

/** Masks what a log line carries (PII in fields, messages and errors); sanitization provides one. */
export interface LogScrubber {
  scrub<T extends object>(value: T): T;
  mask(text: string): string;
}

export interface LoggerSettings {
  level: string;
  /** Applied to every line's fields, its message and serialized errors; none = lines as they are. */
  scrubber?: LogScrubber;
}

/** The service's logger; `destination` defaults to stdout (tests pass a sink). */
export function createLogger(
  { level, scrubber }: LoggerSettings,
  destination?: pino.DestinationStream,
): AppLogger {
  const options: pino.LoggerOptions = {
    level,
    base: { service: 'circuit-breaker', node: hostname() },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACT, censor: '[redacted]' },
    ...(scrubber
      ? {
          formatters: { log: (object: Record<string, unknown>) => scrubber.scrub(object) },
          hooks: {
            logMethod(this: pino.Logger, args: Parameters<pino.LogFn>, method: pino.LogFn): void {
              // The message itself (the last string argument).
              const last = args.length - 1;
              if (typeof args[last] === 'string') args[last] = scrubber.mask(args[last]);
              method.apply(this, args);
            },
          },
        }
      : {}),
    serializers: {
      req: (req: LoggedRequest) => ({ method: req.method, ...describeRequestUrl(req.url), remote: req.ip }),
      // Errors are serialized here, after formatters.log: their messages and stacks are masked here too.
      err: scrubber
        ? (err: Error) => scrubber.scrub({ ...pino.stdSerializers.err(err) })
        : pino.stdSerializers.err,
    },
  };
  return destination ? pino(options, destination) : pino(options);
}
