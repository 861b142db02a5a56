import { StreamErrorCode } from '../../../contract/error-code';
import type { ModelConfig } from '../../../config/app-config';
import {
  type ChatCompletionRequest,
  type ChatMessage,
  type ChatTool,
  type ContentPart,
  maxOutputTokens,
  type ToolChoice,
  wantsReasoning,
} from '../../../contract/chat-request';
import { parseArguments, parseDataUrl, reasoningBudget, stopList } from '../../http/translate';
import { ProviderError } from '../../provider.error';
import type {
  AnthropicImageBlock,
  AnthropicMessage,
  AnthropicRequest,
  AnthropicRequestBlock,
  AnthropicTool,
  AnthropicToolChoice,
} from './anthropic.types';

/** `max_tokens` is required by Anthropic: the request's, else the model's `options.max_tokens`, else this. */
export const DEFAULT_MAX_TOKENS = 4096;
/** Anthropic's smallest thinking budget. */
export const MIN_THINKING_BUDGET = 1024;
/** The budget when the request wants reasoning without saying how much. */
export const DEFAULT_THINKING_BUDGET = 4096;
/** With thinking on, Anthropic accepts `top_p` only from 0.95 up (and `temperature` not at all). */
const THINKING_MIN_TOP_P = 0.95;
/** The image types Anthropic reads from base64 sources. */
const IMAGE_TYPES = new Set(['image/jpeg', 'image/png', 'image/gif', 'image/webp']);

/** The model's `options.max_tokens`, when it is a usable token count; anything else is a config problem. */
export function modelMaxTokens(model: ModelConfig): number | undefined {
  const value = model.options.max_tokens;
  return typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : undefined;
}

/**
 * The Messages API body for an OpenAI Chat Completions request. System and developer messages become the
 * top-level `system`; tool calls become `tool_use` blocks and tool messages `tool_result` blocks of a user
 * message; consecutive messages of one role are merged (Anthropic wants the roles to alternate). Client input
 * Anthropic cannot express is refused as `bad_request` naming the field.
 */
export function toAnthropicBody(
  request: ChatCompletionRequest,
  model: ModelConfig,
  stream: boolean,
  provider: string,
): AnthropicRequest {
  const translator = new RequestTranslator(provider);
  const { system, messages } = translator.messages(request.messages);
  let maxTokens = maxOutputTokens(request) ?? modelMaxTokens(model) ?? DEFAULT_MAX_TOKENS;
  const body: AnthropicRequest = {
    model: model.upstream,
    max_tokens: maxTokens,
    ...(system === undefined ? {} : { system }),
    messages,
  };
  if (stream) body.stream = true;
  const stop = stopList(request);
  if (stop !== undefined && stop.length > 0) body.stop_sequences = stop;
  if (request.tools !== undefined && request.tools.length > 0) {
    body.tools = request.tools.map(toTool);
    const choice = toToolChoice(request.tool_choice, request.parallel_tool_calls);
    if (choice !== undefined) body.tool_choice = choice;
  }
  if (wantsReasoning(request)) {
    if (body.tool_choice?.type === 'any' || body.tool_choice?.type === 'tool') {
      throw translator.bad(
        'tool_choice',
        'a tool_choice that forces a tool call ("required" or a named function) cannot be combined with reasoning on Anthropic; use "auto" or turn reasoning off',
      );
    }
    const budget = Math.max(
      MIN_THINKING_BUDGET,
      reasoningBudget(request, DEFAULT_THINKING_BUDGET) ?? DEFAULT_THINKING_BUDGET,
    );
    body.thinking = { type: 'enabled', budget_tokens: budget };
    // The budget is part of max_tokens and must stay below it: the answer keeps the room it asked for.
    if (maxTokens <= budget) maxTokens += budget;
    body.max_tokens = maxTokens;
    if (request.top_p !== undefined && request.top_p >= THINKING_MIN_TOP_P) body.top_p = request.top_p;
  } else {
    if (request.temperature !== undefined) body.temperature = request.temperature;
    if (request.top_p !== undefined) body.top_p = request.top_p;
  }
  if (request.response_format !== undefined && request.response_format.type !== 'text') {
    throw translator.bad(
      'response_format',
      `response_format "${request.response_format.type}" is not supported by Anthropic; describe the format in the prompt or use a tool`,
    );
  }
  if (request.user !== undefined) body.metadata = { user_id: request.user };
  return body;
}

function toTool(tool: ChatTool): AnthropicTool {
  const { name, description, parameters } = tool.function;
  const out: AnthropicTool = { name, input_schema: parameters ?? { type: 'object', properties: {} } };
  if (description !== undefined) out.description = description;
  return out;
}

function toToolChoice(
  choice: ToolChoice | undefined,
  parallel: boolean | undefined,
): AnthropicToolChoice | undefined {
  const single = parallel === false ? { disable_parallel_tool_use: true } : {};
  if (choice === undefined) return parallel === false ? { type: 'auto', ...single } : undefined;
  if (choice === 'none') return { type: 'none' };
  if (choice === 'auto') return { type: 'auto', ...single };
  if (choice === 'required') return { type: 'any', ...single };
  return { type: 'tool', name: choice.function.name, ...single };
}

/** Walks the messages once, keeping the provider id for error messages. */
class RequestTranslator {
  private readonly out: AnthropicMessage[] = [];

  constructor(private readonly provider: string) {}

  bad(param: string, what: string): ProviderError {
    return new ProviderError(
      StreamErrorCode.BadRequest,
      `${this.provider}: ${param}: ${what}`,
      this.provider,
      {
        retryable: false,
        param,
      },
    );
  }

  messages(messages: readonly ChatMessage[]): { system?: string; messages: AnthropicMessage[] } {
    const system: string[] = [];
    messages.forEach((message, i) => {
      switch (message.role) {
        case 'system':
        case 'developer': {
          const text = this.textOnly(message.content, i, 'system and developer messages');
          if (text !== '') system.push(text);
          break;
        }
        case 'user':
          this.push('user', this.userContent(message.content, i));
          break;
        case 'assistant':
          this.push('assistant', this.assistantContent(message, i));
          break;
        case 'tool':
          this.push('user', [this.toolResult(message, i)]);
          break;
      }
    });
    return { system: system.length > 0 ? system.join('\n\n') : undefined, messages: this.out };
  }

  /** Appends a message, merging it into the previous one when the role is the same; empty content is dropped. */
  private push(role: AnthropicMessage['role'], content: string | AnthropicRequestBlock[]): void {
    if (content.length === 0) return;
    const last = this.out[this.out.length - 1];
    if (last?.role !== role) {
      this.out.push({ role, content });
      return;
    }
    last.content = [...asBlocks(last.content), ...asBlocks(content)];
  }

  private userContent(content: ChatMessage['content'], i: number): string | AnthropicRequestBlock[] {
    if (content === null) return '';
    if (typeof content === 'string') return content;
    const blocks: AnthropicRequestBlock[] = [];
    content.forEach((part, j) => {
      const at = `messages[${i}].content[${j}]`;
      switch (part.type) {
        case 'text':
          if (part.text !== '') blocks.push({ type: 'text', text: part.text });
          break;
        case 'image_url':
          blocks.push(this.image(part.image_url.url, `${at}.image_url.url`));
          break;
        case 'input_audio':
        case 'file':
          throw this.bad(`${at}.type`, `content part type "${part.type}" is not supported by Anthropic`);
      }
    });
    return blocks;
  }

  private image(url: string, param: string): AnthropicImageBlock {
    const data = parseDataUrl(url);
    if (data !== undefined) {
      if (!IMAGE_TYPES.has(data.mediaType)) {
        throw this.bad(
          param,
          `image type "${data.mediaType}" is not supported by Anthropic (use image/jpeg, image/png, image/gif or image/webp)`,
        );
      }
      return { type: 'image', source: { type: 'base64', media_type: data.mediaType, data: data.data } };
    }
    if (/^https?:\/\//i.test(url)) return { type: 'image', source: { type: 'url', url } };
    throw this.bad(param, 'must be a base64 data: URL or an http(s) URL');
  }

  private assistantContent(message: ChatMessage, i: number): AnthropicRequestBlock[] | string {
    const text = this.textOnly(message.content, i, 'assistant messages');
    const calls = message.tool_calls ?? [];
    if (calls.length === 0) return text;
    const blocks: AnthropicRequestBlock[] = text === '' ? [] : [{ type: 'text', text }];
    calls.forEach((call, j) => {
      const input = parseArguments(call.function.arguments);
      if (input === undefined) {
        throw this.bad(`messages[${i}].tool_calls[${j}].function.arguments`, 'must be a JSON object');
      }
      blocks.push({ type: 'tool_use', id: call.id, name: call.function.name, input });
    });
    return blocks;
  }

  private toolResult(message: ChatMessage, i: number): AnthropicRequestBlock {
    if (message.tool_call_id === undefined || message.tool_call_id === '') {
      throw this.bad(`messages[${i}].tool_call_id`, 'is required on tool messages');
    }
    const content = this.textOnly(message.content, i, 'tool messages');
    return { type: 'tool_result', tool_use_id: message.tool_call_id, content };
  }

  /** A message's text, refusing parts other than text where Anthropic takes only text. */
  private textOnly(content: ChatMessage['content'], i: number, where: string): string {
    if (content === null) return '';
    if (typeof content === 'string') return content;
    let text = '';
    content.forEach((part: ContentPart, j) => {
      if (part.type !== 'text') {
        throw this.bad(
          `messages[${i}].content[${j}].type`,
          `content part type "${part.type}" is not supported in ${where} by Anthropic`,
        );
      }
      text += part.text;
    });
    return text;
  }
}

function asBlocks(content: string | AnthropicRequestBlock[]): AnthropicRequestBlock[] {
  return typeof content === 'string' ? [{ type: 'text', text: content }] : content;
}
