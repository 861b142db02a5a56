import { CompletionError, RequestErrorCode } from '../../contract/error-code';
import { isObject } from '../../common/is-object';
import { MAX_JSON_DEPTH, nestsDeeperThan } from '../../common/json-depth';
import type { ChatCompletionRequest, ReasoningEffort } from '../../contract/chat-request';

/**
 * Validation of the OpenAI Chat Completions request, once per request at the edge (never per chunk), by hand:
 * one pass over the known fields, no class instances and no recursive copy of the client's data (a free-form
 * object such as a tool's JSON schema is only checked to be an object, whatever keys it has, `constructor`
 * included). Every edge (REST body, SSE query, WebSocket, GraphQL, workflow agents) uses it.
 *
 * - The first problem found (fields in the order of the API reference) throws a CompletionError naming it as
 *   OpenAI's `param` (`messages[0].content`); a valid value this service does not support is
 *   `unsupported_value`, the rest `invalid_request`.
 * - Unknown fields are tolerated, as OpenRouter does (top level and inside messages); known fields are checked
 *   by type and range.
 * - A `null` means "not given", as OpenAI reads it (`"stop": null`, `"max_tokens": null`), at the top level and
 *   in the objects checked here (messages, tools, tool calls, options: `"tool_calls": null` as SDKs dump an
 *   assistant message), never inside free-form ones (tool schemas, `metadata`). An assistant's `content: null`
 *   stays: it is the value "no text".
 * - Values nested deeper than MAX_JSON_DEPTH are refused before anything recurses into them.
 */
export function validateChatRequest(input: unknown): ChatCompletionRequest {
  if (!isObject(input)) {
    throw new CompletionError(RequestErrorCode.InvalidRequest, 'The request body must be a JSON object.');
  }
  if (nestsDeeperThan(input)) {
    throw new CompletionError(
      RequestErrorCode.InvalidRequest,
      `The request nests objects or arrays deeper than ${MAX_JSON_DEPTH} levels.`,
    );
  }
  const body = withoutNulls(input);
  checkRequest(body);
  return body as unknown as ChatCompletionRequest;
}

const ROLES = ['system', 'developer', 'user', 'assistant', 'tool'] as const;
const EFFORTS: readonly ReasoningEffort[] = ['none', 'minimal', 'low', 'medium', 'high'];
const TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/;
/** Model ids travel in response headers (x-circuit-breaker-model) and upstream URLs: visible ASCII only. */
const MODEL_ID = /^[\x21-\x7e]+$/;
const MODEL_ID_MESSAGE = 'model ids are visible ASCII characters without spaces or control characters';
const PROVIDER_ID = /^[a-z0-9][a-z0-9_.-]*$/i;
const MAX_MODEL_LENGTH = 256;

/** A refused field: `Invalid '<param>': <message>`. */
function invalid(param: string, message: string, unsupported = false): never {
  throw new CompletionError(
    unsupported ? RequestErrorCode.UnsupportedValue : RequestErrorCode.InvalidRequest,
    `Invalid '${param}': ${message}`,
    { param },
  );
}

/** The body without its top-level nulls; the body itself when it has none. */
function withoutNulls(input: Record<string, unknown>): Record<string, unknown> {
  let out: Record<string, unknown> | undefined;
  for (const key in input) {
    if (!Object.hasOwn(input, key) || input[key] !== null) continue;
    out ??= { ...input };
    delete out[key];
  }
  return out ?? input;
}

function checkRequest(body: Record<string, unknown>): void {
  checkModelId(body.model, 'model', true);
  if (body.models !== undefined) {
    const models = array(body.models, 'models');
    if (models.length > 16) invalid('models', 'models must contain no more than 16 elements');
    for (let i = 0; i < models.length; i++) checkModelId(models[i], `models[${i}]`, false);
  }
  if (body.provider !== undefined) checkProvider(known(object(body.provider, 'provider')));
  checkMessages(body.messages);
  optionalBoolean(body.stream, 'stream');
  if (body.stream_options !== undefined) {
    optionalBoolean(
      known(object(body.stream_options, 'stream_options')).include_usage,
      'stream_options.include_usage',
    );
  }
  optionalNumber(body.temperature, 'temperature', 0, 2);
  optionalNumber(body.top_p, 'top_p', 0, 1);
  optionalInteger(body.max_tokens, 'max_tokens', 1);
  optionalInteger(body.max_completion_tokens, 'max_completion_tokens', 1);
  if (body.stop !== undefined) checkStop(body.stop);
  if (body.tools !== undefined) checkTools(body.tools);
  if (body.tool_choice !== undefined && !isToolChoice(body.tool_choice)) {
    invalid(
      'tool_choice',
      'tool_choice must be "none", "auto", "required" or {"type":"function","function":{"name":...}}',
    );
  }
  optionalBoolean(body.parallel_tool_calls, 'parallel_tool_calls');
  if (body.n !== undefined) {
    optionalInteger(body.n, 'n', 1);
    if (body.n !== 1) invalid('n', 'n > 1 is not supported: send one request per choice', true);
  }
  optionalString(body.user, 'user');
  optionalInteger(body.seed, 'seed');
  if (body.response_format !== undefined)
    checkResponseFormat(known(object(body.response_format, 'response_format')));
  optionalNumber(body.presence_penalty, 'presence_penalty', -2, 2);
  optionalNumber(body.frequency_penalty, 'frequency_penalty', -2, 2);
  optionalOneOf(body.reasoning_effort, 'reasoning_effort', EFFORTS);
  if (body.reasoning !== undefined) {
    const reasoning = known(object(body.reasoning, 'reasoning'));
    optionalOneOf(reasoning.effort, 'reasoning.effort', EFFORTS);
    optionalInteger(reasoning.max_tokens, 'reasoning.max_tokens', 0);
    optionalBoolean(reasoning.exclude, 'reasoning.exclude');
    optionalBoolean(reasoning.enabled, 'reasoning.enabled');
  }
  if (body.metadata !== undefined) object(body.metadata, 'metadata');
}

function checkModelId(value: unknown, param: string, required: boolean): void {
  if (value === undefined && !required) return;
  if (typeof value !== 'string') invalid(param, `${param} must be a string`);
  if (value === '') invalid(param, `${param} should not be empty`);
  if (value.length > MAX_MODEL_LENGTH) {
    invalid(param, `${param} must be shorter than or equal to ${MAX_MODEL_LENGTH} characters`);
  }
  if (!MODEL_ID.test(value)) invalid(param, MODEL_ID_MESSAGE);
}

function checkProvider(provider: Record<string, unknown>): void {
  for (const list of ['order', 'only', 'ignore'] as const) {
    const value = provider[list];
    if (value === undefined) continue;
    const param = `provider.${list}`;
    const ids = array(value, param);
    if (ids.length > 32) invalid(param, `${list} must contain no more than 32 elements`);
    for (const id of ids) {
      if (typeof id !== 'string' || !PROVIDER_ID.test(id)) {
        invalid(param, `each value in ${list} must be a provider id like "openai"`);
      }
    }
  }
  optionalBoolean(provider.allow_fallbacks, 'provider.allow_fallbacks');
  optionalOneOf(provider.sort, 'provider.sort', ['price', 'latency']);
}

function checkMessages(value: unknown): void {
  if (value === undefined) invalid('messages', 'messages must be an array');
  const messages = array(value, 'messages');
  if (messages.length === 0) invalid('messages', 'messages must contain at least one message');
  for (let i = 0; i < messages.length; i++) {
    const param = `messages[${i}]`;
    const message = known(object(messages[i], param, 'must be a JSON object'), 'content');
    const role = message.role;
    if (typeof role !== 'string' || !(ROLES as readonly string[]).includes(role)) {
      invalid(`${param}.role`, `role must be one of ${ROLES.join(', ')}`);
    }
    const problem = contentProblem(message.content, role);
    if (problem) invalid(`${param}.content`, problem);
    // An assistant message may leave content out (it carries tool calls): it is null from here on, as the
    // request type says, for every adapter.
    if (message.content === undefined) message.content = null;
    optionalString(message.name, `${param}.name`);
    if (message.tool_calls !== undefined) checkToolCalls(message.tool_calls, `${param}.tool_calls`);
    if ((role === 'tool' || message.tool_call_id !== undefined) && typeof message.tool_call_id !== 'string') {
      invalid(`${param}.tool_call_id`, 'tool_call_id is required on tool messages');
    }
  }
}

/** Content: a string, an array of parts, or null (assistant messages that carry tool calls). */
function contentProblem(value: unknown, role: string): string | undefined {
  if (typeof value === 'string') return undefined;
  if (value === null || value === undefined) {
    return role === 'assistant' ? undefined : 'content is required for this role';
  }
  if (!Array.isArray(value)) return 'content must be a string or an array of content parts';
  if (value.length === 0) return 'content must not be an empty array';
  for (let i = 0; i < value.length; i++) {
    const problem = contentPartProblem(value[i]);
    if (problem) return `content[${i}]: ${problem}`;
  }
  return undefined;
}

/** Why a content part is invalid, or undefined when it is valid. */
function contentPartProblem(part: unknown): string | undefined {
  if (!isObject(part)) return 'must be an object';
  switch (part.type) {
    case 'text':
      return typeof part.text === 'string' ? undefined : 'text part needs a string "text"';
    case 'image_url':
      return isObject(part.image_url) && typeof part.image_url.url === 'string'
        ? undefined
        : 'image_url part needs "image_url.url"';
    case 'input_audio':
      return isObject(part.input_audio) && typeof part.input_audio.data === 'string'
        ? undefined
        : 'input_audio part needs "input_audio.data"';
    case 'file':
      return isObject(part.file) ? undefined : 'file part needs a "file" object';
    default:
      return `unknown content part type ${JSON.stringify(part.type)?.slice(0, 64) ?? 'undefined'}`;
  }
}

function checkToolCalls(value: unknown, param: string): void {
  const calls = array(value, param);
  for (let j = 0; j < calls.length; j++) {
    const at = `${param}[${j}]`;
    const call = known(object(calls[j], at, 'must be a JSON object'));
    if (typeof call.id !== 'string') invalid(`${at}.id`, 'id must be a string');
    if (call.id === '') invalid(`${at}.id`, 'id should not be empty');
    if (call.type !== 'function') invalid(`${at}.type`, 'type must be equal to function');
    const fn = known(object(call.function, `${at}.function`));
    if (typeof fn.name !== 'string') invalid(`${at}.function.name`, 'name must be a string');
    if (typeof fn.arguments !== 'string') invalid(`${at}.function.arguments`, 'arguments must be a string');
  }
}

function checkTools(value: unknown): void {
  const tools = array(value, 'tools');
  if (tools.length > 128) invalid('tools', 'tools must contain no more than 128 elements');
  for (let i = 0; i < tools.length; i++) {
    const param = `tools[${i}]`;
    const tool = known(object(tools[i], param, 'must be a JSON object'));
    if (tool.type !== 'function') invalid(`${param}.type`, 'tool type must be "function"');
    const fn = known(object(tool.function, `${param}.function`));
    if (typeof fn.name !== 'string' || !TOOL_NAME.test(fn.name)) {
      invalid(`${param}.function.name`, 'function name must match ^[a-zA-Z0-9_-]{1,64}$');
    }
    optionalString(fn.description, `${param}.function.description`);
    if (fn.parameters !== undefined) object(fn.parameters, `${param}.function.parameters`);
    optionalBoolean(fn.strict, `${param}.function.strict`);
  }
}

/** stop: a string or up to 4 strings. */
function checkStop(value: unknown): void {
  if (typeof value === 'string') return;
  if (Array.isArray(value) && value.length <= 4 && value.every((s) => typeof s === 'string')) return;
  invalid('stop', 'stop must be a string or an array of at most 4 strings');
}

/** tool_choice: 'none' | 'auto' | 'required' | {type:'function', function:{name}} */
function isToolChoice(value: unknown): boolean {
  if (value === 'none' || value === 'auto' || value === 'required') return true;
  return (
    isObject(value) &&
    value.type === 'function' &&
    isObject(value.function) &&
    typeof value.function.name === 'string'
  );
}

function checkResponseFormat(format: Record<string, unknown>): void {
  optionalOneOf(format.type, 'response_format.type', ['text', 'json_object', 'json_schema'], true);
  if (format.type === 'json_schema') object(format.json_schema, 'response_format.json_schema');
}

/**
 * One of the request's own objects (a message, a tool, options) without its null fields, removed in place: null
 * means "not given" there as at the top level. `keep` is a field whose null is a value (a message's content).
 */
function known(value: Record<string, unknown>, keep?: string): Record<string, unknown> {
  for (const key in value) {
    if (Object.hasOwn(value, key) && value[key] === null && key !== keep) delete value[key];
  }
  return value;
}

function array(value: unknown, param: string): unknown[] {
  if (!Array.isArray(value)) invalid(param, `${lastName(param)} must be an array`);
  return value;
}

function object(value: unknown, param: string, message?: string): Record<string, unknown> {
  if (!isObject(value)) invalid(param, message ?? `${lastName(param)} must be an object`);
  return value;
}

function optionalString(value: unknown, param: string): void {
  if (value !== undefined && typeof value !== 'string') invalid(param, `${lastName(param)} must be a string`);
}

function optionalBoolean(value: unknown, param: string): void {
  if (value !== undefined && typeof value !== 'boolean') {
    invalid(param, `${lastName(param)} must be a boolean value`);
  }
}

function optionalNumber(value: unknown, param: string, min: number, max: number): void {
  if (value === undefined) return;
  const name = lastName(param);
  if (typeof value !== 'number' || !Number.isFinite(value)) invalid(param, `${name} must be a number`);
  if (value < min) invalid(param, `${name} must not be less than ${min}`);
  if (value > max) invalid(param, `${name} must not be greater than ${max}`);
}

function optionalInteger(value: unknown, param: string, min?: number): void {
  if (value === undefined) return;
  const name = lastName(param);
  if (typeof value !== 'number' || !Number.isSafeInteger(value))
    invalid(param, `${name} must be an integer number`);
  if (min !== undefined && value < min) invalid(param, `${name} must not be less than ${min}`);
}

function optionalOneOf(value: unknown, param: string, allowed: readonly string[], required = false): void {
  if (value === undefined && !required) return;
  if (typeof value !== 'string' || !allowed.includes(value)) {
    invalid(param, `${lastName(param)} must be one of the following values: ${allowed.join(', ')}`);
  }
}

/** `messages[0].tool_calls[1].function.name` -> `name`. */
function lastName(param: string): string {
  const dot = param.lastIndexOf('.');
  const name = dot === -1 ? param : param.slice(dot + 1);
  const bracket = name.indexOf('[');
  return bracket === -1 ? name : name.slice(0, bracket);
}
