// Writes schema.graphql from the code-first resolvers: `npm run schema`. The app is built, not started
// (no port is opened); it needs no provider keys.
import { writeFileSync } from 'node:fs';
import { createApp } from '../src/app.factory';
import { loadConfig } from '../src/config/config.loader';
import { printAppSchema, SCHEMA_FILE } from '../src/graphql/schema-file';

async function main(): Promise<void> {
  const config = loadConfig({ overrides: [{ server: { log_level: 'silent' } }] });
  const app = await createApp(config);
  try {
    writeFileSync(SCHEMA_FILE, printAppSchema(app));
    console.log(`wrote ${SCHEMA_FILE}`);
  } finally {
    await app.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
