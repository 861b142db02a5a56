import { plainToInstance } from 'class-transformer';
import { validateSync, type ValidationError } from 'class-validator';
import { CompletionError, RequestErrorCode } from '../../common/errors/error-code';
import { isObject } from '../../common/is-object';
import { MAX_JSON_DEPTH, nestsDeeperThan } from '../../common/json-depth';
import { ChatCompletionRequestDto, UNSUPPORTED } from './chat-completion-request.dto';

/**
 * Turns an untrusted value into a validated request, or throws a CompletionError naming the first bad field
 * as OpenAI's `param` (`messages[0].content`). Every edge (REST body, SSE query, WebSocket, GraphQL) uses this.
 * A top-level `null` means "not given", as OpenAI reads it (`"stop": null`, `"max_tokens": null`). Values nested
 * deeper than MAX_JSON_DEPTH are refused before anything recurses into them.
 */
export function validateChatRequest(input: unknown): ChatCompletionRequestDto {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new CompletionError(RequestErrorCode.InvalidRequest, 'The request body must be a JSON object.');
  }
  if (nestsDeeperThan(input)) {
    throw new CompletionError(
      RequestErrorCode.InvalidRequest,
      `The request nests objects or arrays deeper than ${MAX_JSON_DEPTH} levels.`,
    );
  }
  const given: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(input)) if (value !== null) given[key] = value;
  const misshapen = elementProblem(given);
  if (misshapen) {
    throw new CompletionError(
      RequestErrorCode.InvalidRequest,
      `Invalid '${misshapen}': must be a JSON object`,
      {
        param: misshapen,
      },
    );
  }
  const dto = plainToInstance(ChatCompletionRequestDto, given);
  const errors = validateSync(dto, { forbidUnknownValues: true });
  const first = errors.length > 0 ? firstProblem(errors[0]!, '') : undefined;
  if (!first) return dto;
  const code = first.unsupported ? RequestErrorCode.UnsupportedValue : RequestErrorCode.InvalidRequest;
  throw new CompletionError(code, `Invalid '${first.param}': ${first.message}`, { param: first.param });
}

/**
 * The first element of `messages`, `tools` or a message's `tool_calls` that is not an object (class-validator's
 * nested validation walks into arrays of arrays and finds nothing wrong with `[[[]]]`).
 */
function elementProblem(body: Record<string, unknown>): string | undefined {
  const { messages, tools } = body;
  if (Array.isArray(messages)) {
    for (let i = 0; i < messages.length; i++) {
      const message: unknown = messages[i];
      if (!isObject(message)) return `messages[${i}]`;
      const calls = message.tool_calls;
      if (!Array.isArray(calls)) continue;
      for (let j = 0; j < calls.length; j++)
        if (!isObject(calls[j])) return `messages[${i}].tool_calls[${j}]`;
    }
  }
  if (Array.isArray(tools)) {
    for (let i = 0; i < tools.length; i++) if (!isObject(tools[i])) return `tools[${i}]`;
  }
  return undefined;
}

interface Problem {
  param: string;
  message: string;
  unsupported: boolean;
}

function firstProblem(error: ValidationError, parent: string): Problem | undefined {
  const param = /^\d+$/.test(error.property)
    ? `${parent}[${error.property}]`
    : parent
      ? `${parent}.${error.property}`
      : error.property;
  const constraints = Object.entries(error.constraints ?? {}).sort(byTypeChecksFirst);
  if (constraints.length > 0) {
    const [name, message] = constraints[0]!;
    const context = error.contexts?.[name] as { code?: string } | undefined;
    return { param, message: stripNested(message), unsupported: context?.code === UNSUPPORTED.code };
  }
  for (const child of error.children ?? []) {
    const problem = firstProblem(child, param);
    if (problem) return problem;
  }
  return undefined;
}

/** Report "must be a number" before "must not be greater than 2" for `"temperature": "hot"`. */
const TYPE_CHECKS = ['isString', 'isNumber', 'isInt', 'isBoolean', 'isArray', 'isObject', 'nestedValidation'];

function byTypeChecksFirst([a]: [string, string], [b]: [string, string]): number {
  return rank(a) - rank(b);
}

function rank(constraint: string): number {
  const index = TYPE_CHECKS.indexOf(constraint);
  return index === -1 ? TYPE_CHECKS.length : index;
}

/** class-validator says "nested property x must be either object or array"; the param already names x. */
function stripNested(message: string): string {
  return message.replace(/^nested property \S+ /, '');
}
