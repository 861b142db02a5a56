/**
 * What the GraphQL query limits (src/graphql/query-limits.ts) leave possible, with the default settings: the
 * cost of the limits pass, of graphql-js validation and of execution (introspection needs no resolvers, so it
 * runs against the schema file alone), and the answer size, for documents just inside the limits and for bombs
 * just outside them (median of 15 runs; in process, one core).
 *   node -r ts-node/register/transpile-only bench/graphql-limits.ts
 */
import { readFileSync } from 'node:fs';
import { buildSchema, execute, specifiedRules, validate, getIntrospectionQuery } from 'graphql';
import { GraphqlProtocolConfig } from '../src/config/app-config';
import { QueryLimits } from '../src/graphql/query-limits';
import { SCHEMA_FILE } from '../src/graphql/schema-file';

const schema = buildSchema(readFileSync(SCHEMA_FILE, 'utf8'));
const limits = new QueryLimits(
  Object.assign(new GraphqlProtocolConfig(), {
    enabled: true,
    max_subscriptions: 1,
    subscription_timeout: 1,
  }),
  'development',
);
const rep = (t: string, n: number) => Array.from({ length: n }, () => t).join(' ');
const median = (xs: number[]) => xs.sort((a, b) => a - b)[xs.length >> 1]!;
function run(name: string, q: string) {
  const times = { limits: [] as number[], validate: [] as number[], execute: [] as number[] };
  let line = '';
  for (let i = 0; i < 15; i++) {
    const t0 = performance.now();
    const d = limits.prepare(q);
    const t1 = performance.now();
    times.limits.push(t1 - t0);
    if (d instanceof Error) {
      line = `refused: ${String(d.extensions.limit ?? d.extensions.code)} actual ${String(d.extensions.actual)}`;
      continue;
    }
    const errs = validate(schema, d, [...specifiedRules, ...limits.validationRules]);
    const t2 = performance.now();
    times.validate.push(t2 - t1);
    let bytes = 0;
    if (errs.length === 0) {
      bytes = JSON.stringify(execute({ schema, document: d })).length;
      times.execute.push(performance.now() - t2);
    }
    line = `validation errors ${errs.length} answer ${(bytes / 1e6).toFixed(2)} MB`;
  }
  const ms = (xs: number[]) => (xs.length ? `${median(xs).toFixed(2)}ms` : '-');
  console.log(
    `${name.padEnd(44)} doc ${String(q.length).padStart(5)} B  limits ${ms(times.limits)}  validate ${ms(times.validate)}  execute ${ms(times.execute)}  ${line}`,
  );
}
run('standard introspection', getIntrospectionQuery());
run(
  '26x fields(includeDeprecated) {name}',
  `{ __schema { types { ${rep('fields(includeDeprecated: true) { name }', 26)} } } }`,
);
run(
  '51x fields(includeDeprecated) (refused)',
  `{ __schema { types { ${rep('fields(includeDeprecated: true) { name }', 51)} } } }`,
);
run(
  '20 roots __type with 240-item arg',
  `{ ${Array.from({ length: 20 }, () => `__type(name: [${rep('1', 200)}]) { name }`).join(' ')} }`,
);
const big = `__schema { types { name kind description specifiedByURL fields(includeDeprecated: true) { name description isDeprecated deprecationReason args { name description defaultValue type { name kind ofType { name kind ofType { name kind } } } } type { name kind description fields { name description isDeprecated type { name kind ofType { name kind ofType { name } } } args { name type { name } } } enumValues { name description } inputFields { name } } } inputFields { name description defaultValue type { name kind ofType { name kind } } } enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason } interfaces { name } possibleTypes { name } } }`;
run('1 x big __schema', `{ ${big} }`);
const n = Math.floor(1000 / 75);
run(`${n} x big __schema aliased`, `{ ${Array.from({ length: n }, (_, i) => `s${i}: ${big}`).join(' ')} }`);
run(
  '20 x types{name} aliased',
  `{ ${Array.from({ length: 20 }, (_, i) => `s${i}: __schema { types { name fields { name type { name fields { name description } } } } }`).join(' ')} }`,
);
run(
  '20 aliased models, every field',
  `{ ${Array.from({ length: 20 }, (_, i) => `m${i}: models { id aliases contextLength description fallbacks members ownedBy strategy virtual pricing { prompt completion } }`).join(' ')} }`,
);
run('1,000 __typename (refused)', `{ ${rep('__typename', 1000)} }`);
run('51 __typename (refused)', `{ ${rep('__typename', 51)} }`);
run(
  '30 fragments of 22 aliases (refused)',
  `{ models { ${Array.from({ length: 30 }, (_, i) => `...F${i}`).join(' ')} } } ${Array.from({ length: 30 }, (_, i) => `fragment F${i} on Model { a${i}: id b${i}: virtual ${Array.from({ length: 20 }, (_, j) => `x${i}_${j}: ownedBy`).join(' ')} }`).join(' ')}`,
);
run(
  '30 fragments repeating 4 fields (refused)',
  `{ models { ${Array.from({ length: 30 }, (_, i) => `...F${i}`).join(' ')} } } ${Array.from({ length: 30 }, (_, i) => `fragment F${i} on Model { id virtual ownedBy description }`).join(' ')}`,
);
const deep = `__schema { types { fields { args { type { inputFields { type { enumValues { name description } } } } } type { fields { type { enumValues { name description } inputFields { name } } } } } } }`;
run(
  '20 x deep introspection (graphql-js refuses)',
  `{ ${Array.from({ length: 20 }, (_, i) => `s${i}: ${deep}`).join(' ')} }`,
);
const wide = `__schema { types { fields { type { fields { name description isDeprecated deprecationReason type { name kind description } } } } } }`;
run('20 x wide list product', `{ ${Array.from({ length: 20 }, (_, i) => `s${i}: ${wide}`).join(' ')} }`);
