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

export type RawMessage = Record<string, unknown> & { type?: unknown; id?: unknown };

/** How a graphql-ws operation ended: its `error` or `complete` message (with the `next`s before), or a close. */
export type RawOutcome =
  | { kind: 'error'; errors: Array<{ message?: string; extensions?: Record<string, unknown> }> }
  | { kind: 'complete'; nexts: RawMessage[] }
  | { kind: 'closed'; code: number; reason: string };

/**
 * A graphql-transport-ws connection driven frame by frame (bombs, fuzz): sends any text, keeps every message,
 * and knows how the connection closed. `open` sends connection_init (unless `init` is null) and waits for the
 * ack.
 */
export class RawGraphqlWs {
  readonly messages: RawMessage[] = [];
  close?: { code: number; reason: string };
  private readonly byId = new Map<string, RawMessage[]>();
  private readonly listeners = new Set<() => void>();

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data: WebSocket.RawData) => {
      const text = Buffer.isBuffer(data) ? data.toString() : Buffer.from(data as ArrayBuffer).toString();
      let message: RawMessage;
      try {
        message = JSON.parse(text) as RawMessage;
      } catch {
        message = { type: 'unparseable', text };
      }
      this.messages.push(message);
      if (typeof message.id === 'string') {
        const mine = this.byId.get(message.id) ?? [];
        mine.push(message);
        this.byId.set(message.id, mine);
      }
      this.notify();
    });
    socket.on('close', (code: number, reason: Buffer) => {
      this.close = { code, reason: reason.toString() };
      this.notify();
    });
    socket.on('error', () => undefined);
  }

  static async open(
    baseUrl: string,
    init: Record<string, unknown> | null = {},
    headers: Record<string, string> = {},
  ): Promise<RawGraphqlWs> {
    const socket = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}/graphql`, 'graphql-transport-ws', {
      headers,
    });
    const client = new RawGraphqlWs(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    if (init !== null) {
      client.send({ type: 'connection_init', payload: init });
      await client.until(() => client.messages.some((m) => m.type === 'connection_ack') || !!client.close);
    }
    return client;
  }

  get isOpen(): boolean {
    return this.socket.readyState === WebSocket.OPEN;
  }

  send(message: unknown): void {
    if (this.socket.readyState !== WebSocket.OPEN) return;
    this.socket.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  subscribe(id: string, payload: Record<string, unknown>): void {
    this.send({ id, type: 'subscribe', payload });
  }

  /** Waits (at most `timeoutMs`) for the operation `id` to end; rejects when it does not. */
  async outcome(id: string, timeoutMs = 10_000): Promise<RawOutcome> {
    const ended = (): RawOutcome | undefined => {
      const mine = this.byId.get(id) ?? [];
      const error = mine.find((m) => m.type === 'error');
      if (error)
        return { kind: 'error', errors: error.payload as Extract<RawOutcome, { kind: 'error' }>['errors'] };
      if (mine.some((m) => m.type === 'complete')) {
        return { kind: 'complete', nexts: mine.filter((m) => m.type === 'next') };
      }
      if (this.close) return { kind: 'closed', ...this.close };
      return undefined;
    };
    await this.until(() => ended() !== undefined, timeoutMs, `operation ${id} to end`);
    return ended()!;
  }

  /** Resolves once `check` holds (checked on every message and on close). */
  until(check: () => boolean, timeoutMs = 10_000, what = 'the graphql-ws condition'): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.listeners.delete(listener);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const listener = (): void => {
        if (!check()) return;
        clearTimeout(timer);
        this.listeners.delete(listener);
        resolve();
      };
      this.listeners.add(listener);
    });
  }

  async dispose(): Promise<void> {
    if (this.close) return;
    this.socket.close(1000);
    await this.until(() => !!this.close, 5_000, 'the close');
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }
}
