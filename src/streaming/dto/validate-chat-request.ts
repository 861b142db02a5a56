import { plainToInstance } from 'class-transformer';
import { validateSync, type ValidationError } from 'class-validator';
import { CompletionError, RequestErrorCode } from '../../common/errors/error-code';
import { ChatCompletionRequestDto, UNSUPPORTED } from './chat-completion-request.dto';

/**
 * Turns an untrusted value into a validated request, or throws a CompletionError naming the first bad field
 * as OpenAI's `param` (`messages[0].content`). Every edge (REST body, SSE query, WebSocket, GraphQL) uses this.
 */
export function validateChatRequest(input: unknown): ChatCompletionRequestDto {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new CompletionError(RequestErrorCode.InvalidRequest, 'The request body must be a JSON object.');
  }
  const dto = plainToInstance(ChatCompletionRequestDto, input);
  const errors = validateSync(dto, { forbidUnknownValues: true });
  const first = errors.length > 0 ? firstProblem(errors[0]!, '') : undefined;
  if (!first) return dto;
  const code = first.unsupported ? RequestErrorCode.UnsupportedValue : RequestErrorCode.InvalidRequest;
  throw new CompletionError(code, `Invalid '${first.param}': ${first.message}`, { param: first.param });
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
