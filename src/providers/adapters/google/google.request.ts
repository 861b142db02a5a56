import { StreamErrorCode } from '../../../contract/error-code';
import {
  type ChatCompletionRequest,
  type ChatMessage,
  type ChatTool,
  type ContentPart,
  maxOutputTokens,
  messageText,
  type ToolChoice,
  wantsReasoning,
} from '../../../contract/chat-request';
import { parseArguments, parseDataUrl, reasoningBudget, stopList, systemText } from '../../http/translate';
import { ProviderError } from '../../provider.error';
import type {
  GeminiContent,
  GeminiFunctionDeclaration,
  GeminiGenerationConfig,
  GeminiPart,
  GeminiRequest,
  GeminiRole,
  GeminiSchema,
  GeminiThinkingConfig,
  GeminiToolConfig,
} from './google.types';

/** The thinking budget for `reasoning: {}` or `{enabled: true}` with no effort or budget of its own. */
const DEFAULT_THINKING_BUDGET = 8192;

/**
 * The Gemini `generateContent` body for an OpenAI chat request. Throws a `bad_request` ProviderError naming the
 * field when the request holds something Gemini cannot be sent.
 */
export function toGeminiBody(request: ChatCompletionRequest, provider: string): GeminiRequest {
  const body: GeminiRequest = { contents: toContents(request.messages, provider) };
  const system = systemText(request.messages);
  if (system !== undefined) body.systemInstruction = { parts: [{ text: system }] };
  if (request.tools && request.tools.length > 0) {
    body.tools = [{ functionDeclarations: request.tools.map(toFunctionDeclaration) }];
  }
  if (request.tool_choice !== undefined) body.toolConfig = toToolConfig(request.tool_choice);
  const config = toGenerationConfig(request);
  if (Object.keys(config).length > 0) body.generationConfig = config;
  return body;
}

/** The model name for the URL path: a leading `models/` (as Google's own model ids are written) is dropped. */
export function geminiModelPath(upstream: string): string {
  return encodeURIComponent(upstream.replace(/^models\//, ''));
}

// ---- Messages ----

function badRequest(provider: string, message: string, param: string): ProviderError {
  return new ProviderError(StreamErrorCode.BadRequest, `${provider}: ${message}`, provider, {
    retryable: false,
    param,
  });
}

/**
 * Messages -> contents. System and developer messages go to `systemInstruction`; assistant -> `model`; tool
 * results -> `user` parts `functionResponse`, named after the assistant tool call they answer. Consecutive
 * contents of the same role are merged (Gemini wants a turn's parts together: parallel tool results in one).
 */
function toContents(messages: readonly ChatMessage[], provider: string): GeminiContent[] {
  const contents: GeminiContent[] = [];
  const toolNames = new Map<string, string>();
  const push = (role: GeminiRole, parts: GeminiPart[]) => {
    if (parts.length === 0) return;
    const last = contents[contents.length - 1];
    if (last && last.role === role) last.parts.push(...parts);
    else contents.push({ role, parts });
  };
  messages.forEach((message, i) => {
    const at = `messages[${i}]`;
    switch (message.role) {
      case 'system':
      case 'developer':
        return;
      case 'user':
        push('user', contentParts(message.content, at, provider));
        return;
      case 'assistant': {
        const parts = contentParts(message.content, at, provider);
        (message.tool_calls ?? []).forEach((call, j) => {
          const args = parseArguments(call.function.arguments);
          if (args === undefined) {
            throw badRequest(
              provider,
              `${at}.tool_calls[${j}].function.arguments must be a JSON object`,
              `${at}.tool_calls[${j}].function.arguments`,
            );
          }
          toolNames.set(call.id, call.function.name);
          parts.push({ functionCall: { name: call.function.name, args } });
        });
        push('model', parts);
        return;
      }
      case 'tool': {
        const id = message.tool_call_id;
        const name = id === undefined ? undefined : toolNames.get(id);
        if (name === undefined) {
          throw badRequest(
            provider,
            `${at}.tool_call_id ${id === undefined ? 'is missing' : `'${id}' answers no earlier assistant tool call`}`,
            `${at}.tool_call_id`,
          );
        }
        push('user', [{ functionResponse: { name, response: toolResponse(messageText(message)) } }]);
        return;
      }
    }
  });
  return contents;
}

/** A tool result as Gemini's `response` object: the result itself when it is a JSON object, else wrapped. */
function toolResponse(text: string): Record<string, unknown> {
  const trimmed = text.trimStart();
  if (trimmed.startsWith('{')) {
    try {
      const value = JSON.parse(trimmed) as unknown;
      if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
        return value as Record<string, unknown>;
      }
    } catch {
      // not JSON: sent as text
    }
  }
  return { content: text };
}

function contentParts(content: string | ContentPart[] | null, at: string, provider: string): GeminiPart[] {
  if (content === null) return [];
  if (typeof content === 'string') return content === '' ? [] : [{ text: content }];
  const parts: GeminiPart[] = [];
  content.forEach((part, j) => {
    const where = `${at}.content[${j}]`;
    switch (part.type) {
      case 'text':
        if (part.text !== '') parts.push({ text: part.text });
        return;
      case 'image_url':
        parts.push(urlPart(part.image_url.url, `${where}.image_url.url`, provider));
        return;
      case 'input_audio': {
        const format = part.input_audio.format;
        parts.push({
          inlineData: { mimeType: AUDIO_TYPES[format] ?? `audio/${format}`, data: part.input_audio.data },
        });
        return;
      }
      case 'file': {
        const data = part.file.file_data === undefined ? undefined : parseDataUrl(part.file.file_data);
        if (!data) {
          throw badRequest(
            provider,
            `${where}.file: Gemini takes files as file_data data: URLs; file_id cannot be sent`,
            `${where}.file`,
          );
        }
        parts.push({ inlineData: { mimeType: data.mediaType, data: data.data } });
        return;
      }
      default: {
        const type = (part as { type?: unknown }).type;
        throw badRequest(
          provider,
          `${where}.type '${String(type)}' cannot be sent to Gemini`,
          `${where}.type`,
        );
      }
    }
  });
  return parts;
}

const AUDIO_TYPES: Record<string, string> = { mp3: 'audio/mp3', wav: 'audio/wav' };

/** An image (or any media) URL as a part: `data:` URLs inline, http(s) URLs by reference. */
function urlPart(url: string, param: string, provider: string): GeminiPart {
  if (url.startsWith('data:')) {
    const data = parseDataUrl(url);
    if (!data) throw badRequest(provider, `${param} must be a base64 data: URL`, param);
    return { inlineData: { mimeType: data.mediaType, data: data.data } };
  }
  if (/^https?:\/\//i.test(url)) {
    const mimeType = mimeTypeOf(url);
    return { fileData: mimeType === undefined ? { fileUri: url } : { fileUri: url, mimeType } };
  }
  throw badRequest(provider, `${param} must be a data: URL or an http(s) URL`, param);
}

const MIME_TYPES: Record<string, string> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
  heic: 'image/heic',
  heif: 'image/heif',
  pdf: 'application/pdf',
  mp3: 'audio/mp3',
  wav: 'audio/wav',
  mp4: 'video/mp4',
  webm: 'video/webm',
  mov: 'video/mov',
};

/** The media type a URL's file extension suggests, when it has a known one. */
export function mimeTypeOf(url: string): string | undefined {
  let path: string;
  try {
    path = new URL(url).pathname;
  } catch {
    return undefined;
  }
  const match = /\.([a-z0-9]+)$/i.exec(path);
  return match?.[1] === undefined ? undefined : MIME_TYPES[match[1].toLowerCase()];
}

// ---- Tools ----

function toFunctionDeclaration(tool: ChatTool): GeminiFunctionDeclaration {
  const { name, description, parameters } = tool.function;
  const declaration: GeminiFunctionDeclaration = { name };
  if (description !== undefined) declaration.description = description;
  const schema = parameters === undefined ? undefined : cleanSchema(parameters);
  // Gemini rejects an OBJECT schema without properties ("should be non-empty for OBJECT type"): a function
  // that takes no arguments is declared without parameters.
  if (schema !== undefined && !isEmptyObjectSchema(schema)) declaration.parameters = schema;
  return declaration;
}

function isEmptyObjectSchema(schema: GeminiSchema): boolean {
  const { properties } = schema;
  const none = !isRecord(properties) || Object.keys(properties).length === 0;
  return none && (schema.type === 'object' || schema.type === undefined) && schema.anyOf === undefined;
}

/** The schema keys Gemini's OpenAPI-subset Schema knows; anything else (`$schema`, `additionalProperties`,
 * `strict`, `$id`, `$ref`, `exclusiveMinimum`...) is refused with "Unknown name". */
const SCHEMA_KEYS = new Set([
  'type',
  'format',
  'title',
  'description',
  'nullable',
  'enum',
  'items',
  'minItems',
  'maxItems',
  'properties',
  'required',
  'minProperties',
  'maxProperties',
  'minLength',
  'maxLength',
  'pattern',
  'minimum',
  'maximum',
  'example',
  'default',
  'anyOf',
  'propertyOrdering',
]);

/**
 * A JSON Schema cut down to what Gemini accepts, recursively: unknown keys dropped, `type: [T, "null"]` (or a
 * `null` in `enum`) as `type: T, nullable: true`, `const` as a one-value `enum`, `oneOf` as `anyOf`. Property
 * names are kept whatever they are (they are data, not schema keys).
 */
export function cleanSchema(schema: Record<string, unknown>): GeminiSchema {
  const out: GeminiSchema = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key === 'properties' && isRecord(value)) {
      const properties: Record<string, GeminiSchema> = {};
      for (const [name, property] of Object.entries(value)) {
        properties[name] = isRecord(property) ? cleanSchema(property) : {};
      }
      out.properties = properties;
    } else if (key === 'items') {
      if (isRecord(value)) out.items = cleanSchema(value);
      else if (Array.isArray(value) && isRecord(value[0])) out.items = cleanSchema(value[0]); // tuple form
    } else if ((key === 'anyOf' || key === 'oneOf') && Array.isArray(value)) {
      out.anyOf = value.filter(isRecord).map(cleanSchema);
    } else if (key === 'type' && Array.isArray(value)) {
      const types = value.filter((t): t is string => typeof t === 'string' && t !== 'null');
      if (types.length < value.length) out.nullable = true;
      if (types.length === 1) out.type = types[0];
      else if (types.length > 1) out.anyOf = types.map((type) => ({ type }));
    } else if (key === 'enum' && Array.isArray(value)) {
      // Gemini's enum is a list of strings: `null` in it (JSON Schema's "or null") becomes `nullable`.
      const values = value.filter((v) => v !== null);
      if (values.length < value.length) out.nullable = true;
      out.enum = values;
    } else if (key === 'const') {
      if (typeof value === 'string') out.enum = [value];
    } else if (SCHEMA_KEYS.has(key)) {
      out[key] = value;
    }
  }
  return out;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function toToolConfig(choice: ToolChoice): GeminiToolConfig {
  switch (choice) {
    case 'auto':
      return { functionCallingConfig: { mode: 'AUTO' } };
    case 'required':
      return { functionCallingConfig: { mode: 'ANY' } };
    case 'none':
      return { functionCallingConfig: { mode: 'NONE' } };
    default:
      return { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: [choice.function.name] } };
  }
}

// ---- Generation config ----

function toGenerationConfig(request: ChatCompletionRequest): GeminiGenerationConfig {
  const config: GeminiGenerationConfig = {};
  if (request.temperature !== undefined) config.temperature = request.temperature;
  if (request.top_p !== undefined) config.topP = request.top_p;
  const maxTokens = maxOutputTokens(request);
  if (maxTokens !== undefined) config.maxOutputTokens = maxTokens;
  const stop = stopList(request);
  if (stop !== undefined) config.stopSequences = stop;
  if (request.seed !== undefined) config.seed = request.seed;
  if (request.presence_penalty !== undefined) config.presencePenalty = request.presence_penalty;
  if (request.frequency_penalty !== undefined) config.frequencyPenalty = request.frequency_penalty;
  const format = request.response_format;
  if (format?.type === 'json_object' || format?.type === 'json_schema') {
    config.responseMimeType = 'application/json';
    const schema = format.json_schema?.schema;
    if (format.type === 'json_schema' && isRecord(schema)) config.responseJsonSchema = schema;
  }
  const thinking = thinkingConfig(request);
  if (thinking !== undefined) config.thinkingConfig = thinking;
  return config;
}

/**
 * Thinking on (a budget from the effort or explicit budget, thought summaries included unless the client asked
 * for the reasoning to be excluded), off (`reasoning_effort: none`, `reasoning.enabled: false`: budget 0), or
 * the model's default when the request says nothing.
 */
function thinkingConfig(request: ChatCompletionRequest): GeminiThinkingConfig | undefined {
  const { reasoning, reasoning_effort: effort } = request;
  if (effort === 'none' || reasoning?.enabled === false || reasoning?.effort === 'none') {
    return { thinkingBudget: 0 };
  }
  if (!wantsReasoning(request)) return undefined;
  const config: GeminiThinkingConfig = {};
  const budget = reasoningBudget(request, DEFAULT_THINKING_BUDGET);
  if (budget !== undefined) config.thinkingBudget = budget;
  config.includeThoughts = reasoning?.exclude !== true;
  return config;
}
