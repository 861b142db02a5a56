import type pino from 'pino';
import { type AppLogger, createLogger } from './common/logging/logger';
import type { AppConfig } from './config/app-config';
import { createSanitizer } from './sanitization/sanitization.service';

/**
 * The service's root logger, as configured: `server.log_level`, and PII in logged fields, messages and errors
 * (prompts in error details, emails in user fields...) masked like stream output when `sanitization.logs` is on.
 * IP addresses stay: operators need the bound address and peers' addresses (the request log's `remote`).
 */
export function createRootLogger(config: AppConfig, destination?: pino.DestinationStream): AppLogger {
  const sanitizer =
    config.sanitization.logs && config.sanitization.enabled
      ? createSanitizer({
          ...config.sanitization,
          entities: config.sanitization.entities.filter((e) => e !== 'ipv4' && e !== 'ipv6'),
        })
      : undefined;
  return createLogger(
    { level: config.server.log_level, scrubber: sanitizer?.enabled ? sanitizer : undefined },
    destination,
  );
}
