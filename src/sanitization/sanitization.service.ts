import { Injectable } from '@nestjs/common';
import { AppConfig, type SanitizationConfig, type SanitizationRoute } from '../config/app-config';
import type { StreamEvent } from '../contract/stream-event';
import { PiiSanitizer } from './pii-sanitizer';
import { sanitizeEvents } from './sanitize-events';

/** The sanitizer a configuration describes (also built by the logger, before Nest exists). */
export function createSanitizer(config: SanitizationConfig): PiiSanitizer {
  return new PiiSanitizer({
    entities: config.entities,
    customRules: config.custom_rules,
    maskStyle: config.mask_style,
    ...(config.hash_key ? { hashKey: config.hash_key } : {}),
    maxHoldback: config.max_holdback,
    metadataKeys: config.metadata_keys,
  });
}

/**
 * PII masking of what leaves the service (docs/sanitization.md): completion events on every protocol (per
 * route, or as the caller's token claims), dead letters, and logs.
 */
@Injectable()
export class SanitizationService {
  readonly sanitizer: PiiSanitizer;
  private readonly config: SanitizationConfig;

  constructor(config: AppConfig) {
    this.config = config.sanitization;
    this.sanitizer = createSanitizer(this.config);
  }

  /** Whether a stream on `route` is masked: the caller's claim when it has one, else the route's setting. */
  applies(route: SanitizationRoute, claim: boolean | undefined): boolean {
    if (!this.config.enabled || !this.sanitizer.enabled) return false;
    return claim ?? this.config.routes[route] ?? this.config.streams;
  }

  /** The events as they should leave on `route` for a caller with `claim`. */
  events(
    events: AsyncIterableIterator<StreamEvent>,
    route: SanitizationRoute,
    claim: boolean | undefined,
  ): AsyncIterableIterator<StreamEvent> {
    return this.applies(route, claim) ? sanitizeEvents(events, this.sanitizer) : events;
  }

  /** Dead letters: a masked copy of a stored value (when `dead_letters` is on). */
  scrubStored<T>(value: T): T {
    return this.config.enabled && this.config.dead_letters && this.sanitizer.enabled
      ? this.sanitizer.scrub(value)
      : value;
  }
}
