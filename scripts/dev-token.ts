// Prints a development token for the running configuration: `npm run token -- --sub alice --admin`.
// Options: --sub <id> (dev-user), --admin, --scope own|all, --tier <name>, --ttl <seconds> (3600),
// --permissions a,b (default: the config's default_permissions), --events a,b, --pii on|off.
import { parseArgs } from 'node:util';
import { signDevToken } from '../src/auth/dev-token';
import { ConfigError, loadConfig } from '../src/config/config.loader';

function main(): void {
  const { values } = parseArgs({
    options: {
      sub: { type: 'string', default: 'dev-user' },
      admin: { type: 'boolean', default: false },
      scope: { type: 'string' },
      tier: { type: 'string' },
      ttl: { type: 'string', default: '3600' },
      permissions: { type: 'string' },
      events: { type: 'string' },
      pii: { type: 'string' },
    },
  });
  const config = loadConfig();
  if (config.auth.mode === 'none') {
    process.stderr.write(
      'note: auth.mode is none, so the service is open and ignores tokens; start it with CB__AUTH__MODE=jwt ' +
        'and the same CB_JWT_SECRET to require them.\n',
    );
  }
  const list = (value: string | undefined) =>
    value
      ?.split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  const scope = values.scope;
  if (scope !== undefined && scope !== 'own' && scope !== 'all') throw new Error('--scope is own or all');
  const permissions = list(values.permissions);
  const events = list(values.events);
  const token = signDevToken(config, {
    sub: values.sub,
    ttl: Number(values.ttl),
    ...(values.admin ? { roles: [config.auth.admin_role] } : {}),
    ...(scope ? { scope } : {}),
    ...(values.tier ? { tier: values.tier } : {}),
    ...(permissions ? { permissions } : {}),
    ...(events ? { eventTypes: events } : {}),
    ...(values.pii === undefined ? {} : { sanitize: values.pii === 'on' }),
  });
  process.stdout.write(`${token}\n`);
}

try {
  main();
} catch (err) {
  process.stderr.write(`${err instanceof ConfigError || err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
