import { httpMappingFor, openAiErrorBody } from '../../common/errors/openai-error';
import type { StreamEvent, Usage } from '../../contract/stream-event';

export interface ChunkStreamIdentity {
  completionId: string;
  created: number;
  model: string;
  provider: string;
}

export const DONE_FRAME = 'data: [DONE]\n\n';

/**
 * StreamEvent -> OpenAI `chat.completion.chunk` SSE frames, for one stream. The JSON around each delta is
 * built once per stream, so a content chunk costs one JSON.stringify of its text and two concatenations.
 * The first event is preceded by the `delta.role: "assistant"` chunk clients rely on.
 */
export class OpenAiChunkSerializer {
  private readonly head: string;
  private readonly tail: string;
  private readonly finishHead: string;
  private started = false;
  /** The current frame's prefix (see frame). */
  private prefix = '';
  private readonly announcedToolCalls = new Set<number>();

  constructor(
    private readonly identity: ChunkStreamIdentity,
    private readonly includeUsage: boolean,
  ) {
    this.head =
      `{"id":${JSON.stringify(identity.completionId)},"object":"chat.completion.chunk","created":${identity.created},` +
      `"model":${JSON.stringify(identity.model)},"provider":${JSON.stringify(identity.provider)},` +
      `"system_fingerprint":null,"choices":[{"index":0,"delta":`;
    this.tail = `,"logprobs":null,"finish_reason":null}]${includeUsage ? ',"usage":null' : ''}}`;
    this.finishHead = this.head + '{},"logprobs":null,"finish_reason":';
  }

  /**
   * The SSE text for an event (possibly several frames), or '' when the event has no OpenAI form; `prefix` (an
   * `id:` line) starts each of its frames.
   */
  frame(event: StreamEvent, prefix = ''): string {
    this.prefix = prefix;
    const role = this.started || event.type === 'error' ? '' : this.roleFrame();
    switch (event.type) {
      case 'content_chunk':
        return role + this.delta(`{"content":${JSON.stringify(event.content)}}`);
      case 'thinking':
        return role + this.delta(`{"reasoning":${JSON.stringify(event.content)}}`);
      case 'tool_call': {
        const first = !this.announcedToolCalls.has(event.index);
        this.announcedToolCalls.add(event.index);
        const args = JSON.stringify(event.argumentsDelta);
        const call = first
          ? `{"index":${event.index},"id":${JSON.stringify(event.toolCallId)},"type":"function","function":{"name":${JSON.stringify(event.name)},"arguments":${args}}}`
          : `{"index":${event.index},"function":{"arguments":${args}}}`;
        return role + this.delta(`{"tool_calls":[${call}]}`);
      }
      case 'tool_result':
        return role;
      case 'completed': {
        const splices = event.splices ? `,"splices":${JSON.stringify(event.splices)}` : '';
        let out = `${role}${prefix}data: ${this.finishHead}${JSON.stringify(event.finishReason)}}]${this.includeUsage ? ',"usage":null' : ''}${splices}}\n\n`;
        if (this.includeUsage) out += this.usageFrame(event.usage);
        return out;
      }
      case 'error': {
        const { type } = httpMappingFor(event.error.code);
        const { message, code, param, deadLetterId } = event.error;
        return `${prefix}data: ${JSON.stringify(openAiErrorBody(code, message, type, param, deadLetterId))}\n\n`;
      }
    }
  }

  private roleFrame(): string {
    this.started = true;
    return this.delta('{"role":"assistant","content":""}');
  }

  private delta(delta: string): string {
    return `${this.prefix}data: ${this.head}${delta}${this.tail}\n\n`;
  }

  private usageFrame(usage: Usage): string {
    const { completionId: id, created, model, provider } = this.identity;
    const chunk = {
      id,
      object: 'chat.completion.chunk',
      created,
      model,
      provider,
      system_fingerprint: null,
      choices: [],
      usage: toOpenAiUsage(usage),
    };
    return `${this.prefix}data: ${JSON.stringify(chunk)}\n\n`;
  }
}

export interface OpenAiUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  completion_tokens_details?: { reasoning_tokens: number };
}

export function toOpenAiUsage(usage: Usage): OpenAiUsage {
  const out: OpenAiUsage = {
    prompt_tokens: usage.promptTokens,
    completion_tokens: usage.completionTokens,
    total_tokens: usage.totalTokens,
  };
  if (usage.reasoningTokens !== undefined)
    out.completion_tokens_details = { reasoning_tokens: usage.reasoningTokens };
  return out;
}
