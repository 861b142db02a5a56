import { type Client, createClient, type FormattedExecutionResult } from 'graphql-ws';
import WebSocket from 'ws';

export interface GraphqlHttpReply<T> {
  status: number;
  body: FormattedExecutionResult<T>;
}

/** POST /graphql with JSON, as any GraphQL HTTP client does. */
export async function graphqlHttp<T = Record<string, unknown>>(
  baseUrl: string,
  query: string,
  variables?: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<GraphqlHttpReply<T>> {
  const res = await fetch(`${baseUrl}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query, ...(variables ? { variables } : {}) }),
  });
  return { status: res.status, body: (await res.json()) as FormattedExecutionResult<T> };
}

/** One operation's outcome over graphql-ws: every `next` payload, then complete or an error. */
export interface Operation<T> {
  results: Array<FormattedExecutionResult<T, unknown>>;
  /** Resolves when the operation ends: undefined on complete, else the error (GraphQL errors or a close event). */
  ended: Promise<unknown>;
  /** Completes it from the client side. */
  cancel(): void;
}

/** A graphql-ws client (the library's own) on `/graphql`: one connection, no retries, every result kept. */
export class GraphqlWsTestClient {
  readonly closes: number[] = [];
  private constructor(readonly client: Client) {}

  static connect(baseUrl: string, connectionParams: Record<string, unknown> = {}): GraphqlWsTestClient {
    let self: GraphqlWsTestClient | undefined = undefined;
    const client = createClient({
      url: `${baseUrl.replace(/^http/, 'ws')}/graphql`,
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      lazy: false, // one connection for the client's life: errors must not cost it
      onNonLazyError: () => undefined, // closes are kept in `closes`; tests assert on them
      connectionParams,
      on: { closed: (event) => self?.closes.push((event as { code: number }).code) },
    });
    self = new GraphqlWsTestClient(client);
    return self;
  }

  run<T = Record<string, unknown>>(query: string, variables?: Record<string, unknown>): Operation<T> {
    const results: Array<FormattedExecutionResult<T, unknown>> = [];
    let cancel = () => undefined as void;
    const ended = new Promise<unknown>((resolve) => {
      cancel = this.client.subscribe<T>(
        { query, ...(variables ? { variables } : {}) },
        {
          next: (value) => results.push(value),
          error: (err) => resolve(err),
          complete: () => resolve(undefined),
        },
      );
    });
    return { results, ended, cancel: () => cancel() };
  }

  /** Runs an operation to its end; fails if it ends with an error. */
  async collect<T = Record<string, unknown>>(
    query: string,
    variables?: Record<string, unknown>,
  ): Promise<Array<FormattedExecutionResult<T, unknown>>> {
    const op = this.run<T>(query, variables);
    const error = await op.ended;
    if (error !== undefined) throw new Error(`operation failed: ${JSON.stringify(error)}`);
    return op.results;
  }

  dispose(): Promise<void> {
    return Promise.resolve(this.client.dispose());
  }
}

export const CREATE_COMPLETION = `
  mutation Create($input: CompletionInput!) {
    createCompletion(input: $input) { completionId model provider status createdAt }
  }`;

export const COMPLETION_STREAM = `
  subscription Stream($id: ID!, $after: Int) {
    completionStream(completionId: $id, afterSequence: $after) {
      eventType completionId sequence content metadata timestamp
      usage { promptTokens completionTokens totalTokens }
    }
  }`;

export interface StreamEventResult {
  eventType: string;
  completionId: string;
  sequence: number;
  content: string | null;
  metadata: Record<string, unknown> | null;
  timestamp: string;
  usage: { promptTokens: number; completionTokens: number; totalTokens: number } | null;
}

export function echoInput(text: string, model = 'simulated/echo'): Record<string, unknown> {
  return { model, messages: [{ role: 'user', content: text }] };
}
