import { StreamErrorCode } from '../../../contract/error-code';
import {
  type ChatCompletionRequest,
  type ChatMessage,
  type ChatTool,
  type ContentPart,
  maxOutputTokens,
  wantsReasoning,
} from '../../../contract/chat-request';
import { parseArguments, parseDataUrl, stopList } from '../../http/translate';
import { ProviderError } from '../../provider.error';
import type { OllamaChatRequest, OllamaMessage, OllamaOptions, OllamaToolCallRequest } from './ollama.types';

/**
 * The OpenAI request as an Ollama `/api/chat` body. Ollama cannot express some client inputs (image URLs,
 * audio, files); those are rejected as the client's bad request, naming the field, rather than dropped.
 */
export function toOllamaBody(
  request: ChatCompletionRequest,
  upstreamModel: string,
  stream: boolean,
  provider: string,
): OllamaChatRequest {
  const body: OllamaChatRequest = {
    model: upstreamModel,
    messages: toMessages(request.messages, provider),
    stream,
  };
  const tools = chosenTools(request, provider);
  if (tools !== undefined) body.tools = tools;
  const options = toOptions(request);
  if (options !== undefined) body.options = options;
  const think = thinkFlag(request);
  if (think !== undefined) body.think = think;
  const format = toFormat(request, provider);
  if (format !== undefined) body.format = format;
  return body;
}

function badRequest(provider: string, message: string, param: string): ProviderError {
  return new ProviderError(StreamErrorCode.BadRequest, message, provider, { retryable: false, param });
}

function toMessages(messages: readonly ChatMessage[], provider: string): OllamaMessage[] {
  // Ollama matches a tool result to its call by function name: remember each call id's name in order.
  const toolNames = new Map<string, string>();
  return messages.map((message, i): OllamaMessage => {
    const at = `messages[${i}]`;
    switch (message.role) {
      case 'system':
      case 'developer':
        return { role: 'system', content: textOnly(message.content, at, provider) };
      case 'user': {
        const { content, images } = userContent(message.content, at, provider);
        return images.length > 0 ? { role: 'user', content, images } : { role: 'user', content };
      }
      case 'assistant': {
        const out: OllamaMessage = { role: 'assistant', content: textOnly(message.content, at, provider) };
        if (message.tool_calls && message.tool_calls.length > 0) {
          out.tool_calls = message.tool_calls.map((call, j): OllamaToolCallRequest => {
            toolNames.set(call.id, call.function.name);
            const args = parseArguments(call.function.arguments);
            if (args === undefined) {
              const field = `${at}.tool_calls[${j}].function.arguments`;
              throw badRequest(
                provider,
                `${field} must be a JSON object (Ollama takes tool arguments as objects)`,
                field,
              );
            }
            return { function: { name: call.function.name, arguments: args } };
          });
        }
        return out;
      }
      case 'tool': {
        const out: OllamaMessage = { role: 'tool', content: textOnly(message.content, at, provider) };
        const name = (message.tool_call_id && toolNames.get(message.tool_call_id)) || message.name;
        if (name) out.tool_name = name;
        return out;
      }
    }
  });
}

/** Text parts joined by newlines; any other part is a bad request (Ollama has no place for it). */
function textOnly(content: string | ContentPart[] | null, at: string, provider: string): string {
  if (content === null) return '';
  if (typeof content === 'string') return content;
  const texts: string[] = [];
  content.forEach((part, j) => {
    if (part.type !== 'text') {
      const field = `${at}.content[${j}]`;
      throw badRequest(
        provider,
        `${field}: Ollama takes only text parts in this message, not '${part.type}'`,
        field,
      );
    }
    texts.push(part.text);
  });
  return texts.join('\n');
}

/** A user message: text parts joined by newlines, `data:` image URLs as base64 payloads in `images`. */
function userContent(
  content: string | ContentPart[] | null,
  at: string,
  provider: string,
): { content: string; images: string[] } {
  if (content === null) return { content: '', images: [] };
  if (typeof content === 'string') return { content, images: [] };
  const texts: string[] = [];
  const images: string[] = [];
  content.forEach((part, j) => {
    const field = `${at}.content[${j}]`;
    switch (part.type) {
      case 'text':
        texts.push(part.text);
        return;
      case 'image_url': {
        const url = part.image_url.url;
        const data = parseDataUrl(url);
        if (data === undefined) {
          const kind = /^https?:/i.test(url) ? 'an http(s) image URL' : 'this image URL';
          throw badRequest(
            provider,
            `${field}.image_url.url: Ollama takes only inline images (base64 data: URLs), not ${kind}`,
            `${field}.image_url.url`,
          );
        }
        if (!data.mediaType.startsWith('image/')) {
          throw badRequest(
            provider,
            `${field}.image_url.url: the data: URL holds '${data.mediaType}', not an image`,
            `${field}.image_url.url`,
          );
        }
        images.push(data.data);
        return;
      }
      case 'input_audio':
      case 'file':
        throw badRequest(provider, `${field}: Ollama does not take '${part.type}' content parts`, field);
    }
  });
  return { content: texts.join('\n'), images };
}

/**
 * Ollama has no tool_choice: `none` sends no tools, a named function sends only that tool (the closest it can
 * express), `auto` and `required` send them all (Ollama cannot force a call).
 */
function chosenTools(request: ChatCompletionRequest, provider: string): ChatTool[] | undefined {
  const { tools, tool_choice: choice } = request;
  if (!tools || tools.length === 0 || choice === 'none') return undefined;
  if (typeof choice === 'object') {
    const named = tools.filter((tool) => tool.function.name === choice.function.name);
    if (named.length === 0) {
      throw badRequest(
        provider,
        `tool_choice names the function '${choice.function.name}', which is not in tools`,
        'tool_choice',
      );
    }
    return named;
  }
  return tools;
}

function toOptions(request: ChatCompletionRequest): OllamaOptions | undefined {
  const options: OllamaOptions = {};
  if (request.temperature !== undefined) options.temperature = request.temperature;
  if (request.top_p !== undefined) options.top_p = request.top_p;
  const max = maxOutputTokens(request);
  if (max !== undefined) options.num_predict = max;
  const stop = stopList(request);
  if (stop !== undefined) options.stop = stop;
  if (request.seed !== undefined) options.seed = request.seed;
  if (request.presence_penalty !== undefined) options.presence_penalty = request.presence_penalty;
  if (request.frequency_penalty !== undefined) options.frequency_penalty = request.frequency_penalty;
  return Object.keys(options).length > 0 ? options : undefined;
}

/** `think: true` when reasoning is asked for, `false` when it is explicitly turned off, else left to the model. */
function thinkFlag(request: ChatCompletionRequest): boolean | undefined {
  if (wantsReasoning(request)) return true;
  const { reasoning, reasoning_effort: effort } = request;
  if (effort === 'none' || reasoning?.enabled === false || reasoning?.effort === 'none') return false;
  return undefined;
}

function toFormat(request: ChatCompletionRequest, provider: string): OllamaChatRequest['format'] {
  const format = request.response_format;
  if (format === undefined || format.type === 'text') return undefined;
  if (format.type === 'json_object') return 'json';
  const schema = format.json_schema?.schema;
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) {
    throw badRequest(
      provider,
      'response_format.json_schema.schema must be a JSON schema object for Ollama structured output',
      'response_format.json_schema.schema',
    );
  }
  return schema as Record<string, unknown>;
}
