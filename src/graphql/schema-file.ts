import type { INestApplicationContext } from '@nestjs/common';
import { GraphQLSchemaHost } from '@nestjs/graphql';
import { lexicographicSortSchema, printSchema } from 'graphql';
import { join } from 'node:path';

/** The checked-in SDL of the GraphQL API, kept in sync by test/graphql-schema.e2e-spec.ts (`npm run schema`). */
export const SCHEMA_FILE = join(__dirname, '..', '..', 'schema.graphql');

const HEADER =
  '# The Circuit Breaker GraphQL API (generated from the code-first resolvers by `npm run schema`; do not edit).\n\n';

/** The running app's schema as SDL, sorted, with the file's header. */
export function printAppSchema(app: INestApplicationContext): string {
  return HEADER + printSchema(lexicographicSortSchema(app.get(GraphQLSchemaHost).schema)) + '\n';
}
