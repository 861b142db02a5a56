import { readFileSync } from 'node:fs';
import { buildSchema, type DocumentNode, type GraphQLError } from 'graphql';
import { GraphqlProtocolConfig } from '../config/app-config';
import { PreparedOperations } from './prepared-operations';
import { QueryLimits } from './query-limits';
import { SCHEMA_FILE } from './schema-file';

const schema = buildSchema(readFileSync(SCHEMA_FILE, 'utf8'));

function operations(): PreparedOperations {
  const config = Object.assign(new GraphqlProtocolConfig(), {
    enabled: true,
    max_subscriptions: 10,
    subscription_timeout: 60_000,
  });
  return new PreparedOperations(schema, new QueryLimits(config, 'development'));
}

const STREAM = 'subscription ($id: ID!) { completionStream(completionId: $id) { sequence content } }';

function codes(result: DocumentNode | readonly GraphQLError[]): unknown[] {
  if ('kind' in result) throw new Error('expected a refusal');
  return result.map((e) => e.extensions.code);
}

describe('PreparedOperations', () => {
  it('parses and validates a text once: the same text gets the same document', () => {
    const ops = operations();
    const first = ops.prepare(STREAM);
    expect('kind' in first).toBe(true);
    expect(ops.prepare(STREAM)).toBe(first);
    expect(ops.prepare(`${STREAM} `)).not.toBe(first);
  });

  it('refuses a bad text with its codes every time, and keeps nothing of it', () => {
    const ops = operations();
    expect(codes(ops.prepare('subscription { nope }'))).toEqual(['GRAPHQL_VALIDATION_FAILED']);
    expect(codes(ops.prepare('subscription { nope }'))).toEqual(['GRAPHQL_VALIDATION_FAILED']);
    expect(codes(ops.prepare('subscription {'))).toEqual(['GRAPHQL_PARSE_FAILED']);
  });

  it('keeps a bounded number of texts, letting the least recently used go', () => {
    const ops = operations();
    const text = (i: number) => `subscription { completionStream(completionId: "c${i}") { sequence } }`;
    const used = ops.prepare(text(0));
    const unused = ops.prepare(text(1));
    for (let i = 2; i <= 300; i++) {
      ops.prepare(text(i));
      if (i % 100 === 0) expect(ops.prepare(text(0))).toBe(used);
    }
    // text(0) was used again along the way and stays; text(1) was not, and went (parsed anew now).
    expect(ops.prepare(text(0))).toBe(used);
    expect(ops.prepare(text(1))).not.toBe(unused);
  });
});
