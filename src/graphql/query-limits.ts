import {
  type DocumentNode,
  type FragmentDefinitionNode,
  type FragmentSpreadNode,
  GraphQLError,
  Kind,
  Lexer,
  parse,
  type SelectionSetNode,
  Source,
  TokenKind,
  type ValidationRule,
} from 'graphql';
import type { GraphqlProtocolConfig, ServerConfig } from '../config/app-config';
import { GraphqlErrorCode } from './graphql-errors';

/** The settings (under streaming.protocols.graphql) a document can be refused by, as `extensions.limit`. */
export type QueryLimitName =
  | 'max_document_size'
  | 'max_tokens'
  | 'max_depth'
  | 'max_aliases'
  | 'max_fields'
  | 'max_repeated_fields'
  | 'max_root_fields'
  | 'max_operations';

const SETTINGS = 'streaming.protocols.graphql';

/** What a selection set holds once its fragments are expanded (a fragment's is kept, so each is counted once). */
interface Measure {
  /** Fields, fragment spreads and inline fragments, expanded. */
  selections: number;
  aliases: number;
  /** Nesting of fields: `{ a }` is 1, `{ a { b } }` 2. */
  depth: number;
  /** Fields at this level (root fields, for an operation). */
  top: number;
}

/** Where a fragment cycle was found: refused before validation, so that no count here has to follow it. */
class FragmentCycle extends Error {
  constructor(readonly spread: FragmentSpreadNode) {
    super(`fragment cycle at ${spread.name.value}`);
  }
}

/** Response names at one place of the answer, selections merged (fragments and repeated fields together). */
class MergedFields {
  readonly children = new Map<string, MergedFields>();
}

/**
 * The limits every GraphQL document meets before graphql-js validates or runs it, over HTTP (the /graphql
 * route's preHandler, before Apollo) and graphql-ws (GraphqlWsServer's onSubscribe) alike, in this order:
 *   1. `sourceError`: the text's byte size (max_document_size), before anything reads it;
 *   2. `lexicalError`: tokens (max_tokens) and bracket nesting (max_depth) in one lexer pass, so that the
 *      parser, which recurses, only ever sees shallow documents;
 *   3. `documentError`: on the parsed document, in linear time (each fragment measured once, however often it
 *      is spread): operations, fragment names defined twice, root fields, depth, selections and aliases with
 *      fragments expanded, fragment cycles, then the repeated fields of the merged selections, which graphql-js's overlap validation compares
 *      pairwise (quadratic in their number).
 * A refusal is one GraphQL error: QUERY_TOO_LARGE or QUERY_TOO_COMPLEX, with `extensions.limit` (the setting),
 * `max` and `actual`.
 */
export class QueryLimits {
  /** Whether `__schema` and `__type` may be queried. */
  readonly introspection: boolean;
  /** Validation rules beside graphql-js's own (the introspection refusal when it is off). */
  readonly validationRules: readonly ValidationRule[];

  constructor(
    private readonly limits: GraphqlProtocolConfig,
    environment: ServerConfig['environment'],
  ) {
    this.introspection = limits.introspection ?? environment !== 'production';
    this.validationRules = this.introspection ? [] : [noIntrospectionRule];
  }

  /** graphql-js parse options: its own token limit, beside `lexicalError`'s (which names the setting). */
  get parseOptions(): { maxTokens: number } {
    return { maxTokens: this.limits.max_tokens };
  }

  /** The whole check, as both transports run it: the parsed document, or the one error that refuses it (a
   * limit, a syntax error, a fragment cycle). */
  prepare(source: string): DocumentNode | GraphQLError {
    const refused = this.sourceError(source) ?? this.lexicalError(source);
    if (refused) return refused;
    let document: DocumentNode;
    try {
      document = parse(source, this.parseOptions);
    } catch (err) {
      if (!(err instanceof GraphQLError)) {
        return new GraphQLError('The query could not be parsed.', {
          extensions: { code: GraphqlErrorCode.ParseFailed },
        });
      }
      // graphql-js's syntax error, with its location: only the code is added.
      err.extensions.code = GraphqlErrorCode.ParseFailed;
      return err;
    }
    return this.documentError(document) ?? document;
  }

  /** The document's size in UTF-8 bytes against max_document_size (cheap: no byte count for short texts). */
  sourceError(source: string): GraphQLError | undefined {
    const max = this.limits.max_document_size;
    // A UTF-16 code unit is at most 3 UTF-8 bytes.
    if (source.length * 3 <= max) return undefined;
    const bytes = Buffer.byteLength(source, 'utf8');
    if (bytes <= max) return undefined;
    return refusal(
      GraphqlErrorCode.QueryTooLarge,
      'max_document_size',
      max,
      bytes,
      `The GraphQL document is ${bytes} bytes; at most ${max} are accepted`,
    );
  }

  /**
   * One lexer pass: the token count against max_tokens, and how deep braces and brackets nest against
   * max_depth (selection sets, list and object values). A lexical error ends the pass: parsing reports it.
   */
  lexicalError(source: string): GraphQLError | undefined {
    const lexer = new Lexer(new Source(source));
    let tokens = 0;
    let nesting = 0;
    let deepest = 0;
    try {
      for (let token = lexer.advance(); token.kind !== TokenKind.EOF; token = lexer.advance()) {
        tokens += 1;
        if (token.kind === TokenKind.BRACE_L || token.kind === TokenKind.BRACKET_L) {
          nesting += 1;
          if (nesting > deepest) deepest = nesting;
        } else if (token.kind === TokenKind.BRACE_R || token.kind === TokenKind.BRACKET_R) {
          nesting -= 1;
        }
      }
    } catch {
      // A syntax error: the parser, which runs next, reports it with its position.
    }
    const { max_tokens, max_depth } = this.limits;
    if (tokens > max_tokens) {
      return refusal(
        GraphqlErrorCode.QueryTooLarge,
        'max_tokens',
        max_tokens,
        tokens,
        `The GraphQL document has ${tokens} tokens; at most ${max_tokens} are accepted`,
      );
    }
    if (deepest > max_depth) {
      return refusal(
        GraphqlErrorCode.QueryTooComplex,
        'max_depth',
        max_depth,
        deepest,
        `The GraphQL document nests ${deepest} levels deep (selection sets, lists and objects); at most ${max_depth} are accepted`,
      );
    }
    return undefined;
  }

  /** The parsed document's shape against the limits (linear in its size); undefined when it passes. */
  documentError(document: DocumentNode): GraphQLError | undefined {
    const limits = this.limits;
    const operations = document.definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION);
    if (operations.length > limits.max_operations) {
      return this.complex(
        'max_operations',
        operations.length,
        `The GraphQL document defines ${operations.length} operations`,
      );
    }
    const fragments = new Map<string, FragmentDefinitionNode>();
    for (const definition of document.definitions) {
      if (definition.kind !== Kind.FRAGMENT_DEFINITION) continue;
      const name = definition.name.value;
      const first = fragments.get(name);
      // Refused here (validation would refuse it too): graphql-js's rules read the last definition of a name,
      // so measuring only one would leave the other unbounded.
      if (first) {
        return new GraphQLError(`There can be only one fragment named "${name}".`, {
          nodes: [first.name, definition.name],
          extensions: { code: GraphqlErrorCode.ValidationFailed },
        });
      }
      fragments.set(name, definition);
    }
    const measurer = new Measurer(fragments);
    // What is validated: every operation, and every fragment no operation reaches (validation refuses those,
    // but measures them first).
    const roots: SelectionSetNode[] = [];
    let total: Measure = { selections: 0, aliases: 0, depth: 0, top: 0 };
    try {
      for (const operation of operations) {
        const measure = measurer.of(operation.selectionSet);
        if (measure.top > limits.max_root_fields) {
          return this.complex(
            'max_root_fields',
            measure.top,
            `An operation asks for ${measure.top} fields at its top level`,
          );
        }
        roots.push(operation.selectionSet);
        total = add(total, measure);
      }
      for (const [name, fragment] of fragments) {
        if (measurer.measured(name)) continue;
        roots.push(fragment.selectionSet);
        total = add(total, measurer.fragment(fragment));
      }
    } catch (err) {
      if (!(err instanceof FragmentCycle)) throw err;
      return new GraphQLError(`Cannot spread fragment "${err.spread.name.value}" within itself.`, {
        nodes: [err.spread],
        extensions: { code: GraphqlErrorCode.ValidationFailed },
      });
    }
    if (total.depth > limits.max_depth) {
      return this.complex(
        'max_depth',
        total.depth,
        `The GraphQL document nests fields ${total.depth} levels deep, fragments expanded`,
      );
    }
    if (total.selections > limits.max_fields) {
      return this.complex(
        'max_fields',
        total.selections,
        `The GraphQL document selects ${total.selections} fields (fragment spreads included), fragments expanded`,
      );
    }
    if (total.aliases > limits.max_aliases) {
      return this.complex(
        'max_aliases',
        total.aliases,
        `The GraphQL document has ${total.aliases} aliases, fragments expanded`,
      );
    }
    // Expanding visits `total.selections` nodes (at most max_fields), cycles excluded above.
    const repeated = repeatedFields(roots, fragments);
    if (repeated > limits.max_repeated_fields) {
      return this.complex(
        'max_repeated_fields',
        repeated,
        `The GraphQL document asks ${repeated} times again for fields already asked at the same place of the answer`,
      );
    }
    return undefined;
  }

  private complex(limit: QueryLimitName, actual: number, what: string): GraphQLError {
    const max = this.limits[limit];
    return refusal(
      GraphqlErrorCode.QueryTooComplex,
      limit,
      max,
      actual,
      `${what}; at most ${max} ${max === 1 ? 'is' : 'are'} accepted`,
    );
  }
}

function refusal(
  code: GraphqlErrorCode.QueryTooLarge | GraphqlErrorCode.QueryTooComplex,
  limit: QueryLimitName,
  max: number,
  actual: number,
  message: string,
): GraphQLError {
  return new GraphQLError(`${message} (${SETTINGS}.${limit}).`, {
    extensions: { code, limit, max, actual },
  });
}

function add(a: Measure, b: Measure): Measure {
  return {
    selections: a.selections + b.selections,
    aliases: a.aliases + b.aliases,
    depth: Math.max(a.depth, b.depth),
    top: a.top + b.top,
  };
}

/** Measures selection sets with fragments expanded, each fragment once (a fragment bomb costs its size). */
class Measurer {
  private readonly done = new Map<string, Measure>();
  private readonly inProgress = new Set<string>();

  constructor(private readonly fragments: ReadonlyMap<string, FragmentDefinitionNode>) {}

  measured(name: string): boolean {
    return this.done.has(name);
  }

  fragment(fragment: FragmentDefinitionNode): Measure {
    const name = fragment.name.value;
    const known = this.done.get(name);
    if (known) return known;
    this.inProgress.add(name);
    const measure = this.of(fragment.selectionSet);
    this.inProgress.delete(name);
    this.done.set(name, measure);
    return measure;
  }

  of(selectionSet: SelectionSetNode): Measure {
    let measure: Measure = { selections: 0, aliases: 0, depth: 0, top: 0 };
    for (const selection of selectionSet.selections) {
      switch (selection.kind) {
        case Kind.FIELD: {
          const child = selection.selectionSet ? this.of(selection.selectionSet) : undefined;
          measure = {
            selections: measure.selections + 1 + (child?.selections ?? 0),
            aliases: measure.aliases + (selection.alias ? 1 : 0) + (child?.aliases ?? 0),
            depth: Math.max(measure.depth, 1 + (child?.depth ?? 0)),
            top: measure.top + 1,
          };
          break;
        }
        case Kind.INLINE_FRAGMENT: {
          const inner = this.of(selection.selectionSet);
          measure = add(measure, { ...inner, selections: 1 + inner.selections });
          break;
        }
        case Kind.FRAGMENT_SPREAD: {
          const name = selection.name.value;
          if (this.inProgress.has(name)) throw new FragmentCycle(selection);
          const fragment = this.fragments.get(name);
          // An unknown fragment: validation refuses it; here it is one selection.
          const inner = fragment ? this.fragment(fragment) : undefined;
          measure = add(measure, {
            selections: 1 + (inner?.selections ?? 0),
            aliases: inner?.aliases ?? 0,
            depth: inner?.depth ?? 0,
            top: inner?.top ?? 0,
          });
          break;
        }
      }
    }
    return measure;
  }
}

/**
 * Fields asked again where the same response name is already asked, selections merged as the answer merges
 * them (fragments expanded, the sub-selections of a repeated field together). Fragment cycles are refused
 * before this runs.
 */
function repeatedFields(
  roots: readonly SelectionSetNode[],
  fragments: ReadonlyMap<string, FragmentDefinitionNode>,
): number {
  let repeated = 0;
  const merge = (selectionSet: SelectionSetNode, into: MergedFields): void => {
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) {
        const key = selection.alias?.value ?? selection.name.value;
        let merged = into.children.get(key);
        if (merged) repeated += 1;
        else {
          merged = new MergedFields();
          into.children.set(key, merged);
        }
        if (selection.selectionSet) merge(selection.selectionSet, merged);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        merge(selection.selectionSet, into);
      } else {
        const fragment = fragments.get(selection.name.value);
        if (fragment) merge(fragment.selectionSet, into);
      }
    }
  };
  for (const root of roots) merge(root, new MergedFields());
  return repeated;
}

/** Introspection turned off (streaming.protocols.graphql.introspection): `__schema` and `__type` are refused. */
const noIntrospectionRule: ValidationRule = (context) => ({
  Field(node) {
    const name = node.name.value;
    if (name !== '__schema' && name !== '__type') return;
    context.reportError(
      new GraphQLError(
        `Introspection is turned off on this server (${SETTINGS}.introspection): ${name} cannot be queried.`,
        { nodes: [node], extensions: { code: GraphqlErrorCode.ValidationFailed, setting: 'introspection' } },
      ),
    );
  },
});
