import { valueKindAt } from './config.schema';

describe('valueKindAt', () => {
  it.each([
    ['redis.key_prefix', 'string'],
    ['server.host', 'string'],
    ['server.log_level', 'string'],
    ['server.port', 'number'],
    ['streaming.error_handling.circuit_breaker_threshold', 'number'],
    ['server.trust_proxy', 'boolean'],
    ['streaming.protocols.graphql.introspection', 'boolean'],
    ['streaming.protocols.sse.keepalive_interval', 'unit'],
    ['server.body_limit', 'unit'],
    ['server.cors.origins', 'list'],
    ['auth.jwt.algorithms', 'list'],
    ['models', 'list'],
    ['routing.virtual_models', 'list'],
    ['providers', 'map'],
    ['providers.anything', 'map'],
    ['providers.anything.type', 'string'],
    ['providers.anything.enabled', 'boolean'],
    ['providers.anything.tokens_per_second', 'number'],
    ['providers.anything.headers', 'map'],
    ['providers.anything.headers.x_title', 'scalar'],
    ['auth.rate_limits.tiers.pro.requests_per_minute', 'number'],
    ['sanitization.routes', 'map'],
    ['sanitization.routes.ws', 'scalar'],
    ['server', 'map'],
    ['server.shutdown', 'map'],
    ['server.no_such_key', 'unknown'],
    ['models.0.id', 'unknown'],
    ['redis.key_prefix.deeper', 'unknown'],
  ])('%s is %s', (path, kind) => {
    expect(valueKindAt(path.split('.'))).toBe(kind);
  });
});
