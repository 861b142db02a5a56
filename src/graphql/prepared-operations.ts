import { type DocumentNode, GraphQLError, type GraphQLSchema, specifiedRules, validate } from 'graphql';
import { GraphqlErrorCode } from './graphql-errors';
import type { QueryLimits } from './query-limits';

/** Distinct operations kept parsed and validated (clients send the same few over and over), and the longest text kept. */
const MAX_PREPARED = 256;
const MAX_KEPT_LENGTH = 16_384;

/**
 * The graphql-ws operations, parsed and validated once per distinct text (the query limits first, then
 * graphql-js validation) and kept, bounded (least recently used goes first): a client following completions
 * sends the same subscription for each, and validating it anew cost more than a short completion's events.
 * Only valid documents are kept; a refused text is checked again each time, and gets the same errors.
 */
export class PreparedOperations {
  private readonly documents = new Map<string, DocumentNode>();

  constructor(
    private readonly schema: GraphQLSchema,
    private readonly limits: QueryLimits,
  ) {}

  /** The validated document of an operation's text, or why it is refused (each error with its code). */
  prepare(query: string): DocumentNode | readonly GraphQLError[] {
    const known = this.documents.get(query);
    if (known) {
      // Most recently used last, so the oldest is the one let go.
      this.documents.delete(query);
      this.documents.set(query, known);
      return known;
    }
    const document = this.limits.prepare(query);
    if (document instanceof GraphQLError) return [document];
    const errors = validate(this.schema, document, [...specifiedRules, ...this.limits.validationRules]);
    if (errors.length > 0) {
      return errors.map(
        (e) =>
          new GraphQLError(e.message, {
            nodes: e.nodes,
            extensions: { ...e.extensions, code: GraphqlErrorCode.ValidationFailed },
          }),
      );
    }
    if (query.length > MAX_KEPT_LENGTH) return document;
    this.documents.set(query, document);
    if (this.documents.size > MAX_PREPARED) {
      const oldest = this.documents.keys().next().value;
      if (oldest !== undefined) this.documents.delete(oldest);
    }
    return document;
  }
}
