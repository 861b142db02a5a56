import type { Bindings, ChildLoggerOptions, LevelWithSilentOrString, LogFn } from 'pino';
import type { AppLogger } from './logger';

type Level = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';

/** What a parent must offer: the app's logger type, plus pino's level check. */
type Parent = AppLogger & { isLevelEnabled?(level: string): boolean };

/**
 * A request's logger made only when something is logged through it. Fastify makes a child logger for every
 * request (its bindings, the request id, go through the redaction serializers each time); most requests log
 * nothing at the configured level, so on the hot path that child is pure allocation. This one has the same
 * interface and builds the real child on the first call whose level the parent would write.
 */
export class LazyChildLogger implements AppLogger {
  private real?: AppLogger;

  constructor(
    private readonly parent: Parent,
    private readonly childBindings: Bindings,
    private readonly options: ChildLoggerOptions,
  ) {}

  get level(): LevelWithSilentOrString {
    return this.real?.level ?? this.parent.level;
  }

  set level(level: LevelWithSilentOrString) {
    this.child_().level = level;
  }

  fatal(...args: unknown[]): void {
    this.write('fatal', args);
  }
  error(...args: unknown[]): void {
    this.write('error', args);
  }
  warn(...args: unknown[]): void {
    this.write('warn', args);
  }
  info(...args: unknown[]): void {
    this.write('info', args);
  }
  debug(...args: unknown[]): void {
    this.write('debug', args);
  }
  trace(...args: unknown[]): void {
    this.write('trace', args);
  }
  silent(): void {}

  child(bindings: Bindings, options?: ChildLoggerOptions): AppLogger {
    return this.child_().child(bindings, options);
  }

  private child_(): AppLogger {
    this.real ??= this.parent.child(this.childBindings, this.options);
    return this.real;
  }

  /** Methods on the prototype: a request's logger costs one small object until it writes. */
  private write(level: Level, args: unknown[]): void {
    if (this.real === undefined && this.parent.isLevelEnabled?.(level) === false) return;
    this.child_()[level](...(args as Parameters<LogFn>));
  }
}

/** Fastify's `childLoggerFactory`: a lazy child per request. */
export function lazyRequestLogger(
  logger: AppLogger,
  bindings: Bindings,
  options: ChildLoggerOptions,
): AppLogger {
  return new LazyChildLogger(logger, bindings, options);
}
