import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  Equals,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsNotEmpty,
  IsNumber,
  IsObject,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateBy,
  ValidateIf,
  ValidateNested,
  type ValidationArguments,
} from 'class-validator';
import type {
  ChatCompletionRequest,
  ChatMessage,
  ChatRole,
  ChatTool,
  ContentPart,
  ProviderPreferences,
  ReasoningEffort,
  ReasoningOptions,
  ResponseFormat,
  ToolChoice,
} from '../chat-request';
import { isObject } from '../../common/is-object';

/**
 * Validation of the OpenAI Chat Completions request, once per request at the edge (never per chunk).
 * Unknown top-level fields are tolerated, as OpenRouter does; known fields are checked by type and range.
 */

const ROLES: ChatRole[] = ['system', 'developer', 'user', 'assistant', 'tool'];
const EFFORTS: ReasoningEffort[] = ['none', 'minimal', 'low', 'medium', 'high'];
/** Marks a constraint whose failure means "valid JSON, but a value this service does not support". */
export const UNSUPPORTED = { code: 'unsupported_value' } as const;
const TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/;
/** Model ids travel in response headers (x-cb-model) and upstream URLs: visible ASCII only, no space or control. */
const MODEL_ID = /^[\x21-\x7e]+$/;
const MODEL_ID_MESSAGE = 'model ids are visible ASCII characters without spaces or control characters';

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
      return `unknown content part type ${JSON.stringify(part.type)}`;
  }
}

/** Content: a string, an array of parts, or null (assistant messages that carry tool calls). */
function IsMessageContent(): PropertyDecorator {
  return ValidateBy({
    name: 'isMessageContent',
    validator: {
      validate(value: unknown, args?: ValidationArguments): boolean {
        return contentProblem(value, args?.object as ChatMessageDto) === undefined;
      },
      defaultMessage(args?: ValidationArguments): string {
        return contentProblem(args?.value, args?.object as ChatMessageDto) ?? 'is invalid';
      },
    },
  });
}

function contentProblem(value: unknown, message: ChatMessageDto | undefined): string | undefined {
  if (typeof value === 'string') return undefined;
  if (value === null || value === undefined) {
    return message?.role === 'assistant' ? undefined : 'content is required for this role';
  }
  if (!Array.isArray(value)) return 'content must be a string or an array of content parts';
  if (value.length === 0) return 'content must not be an empty array';
  for (let i = 0; i < value.length; i++) {
    const problem = contentPartProblem(value[i]);
    if (problem) return `content[${i}]: ${problem}`;
  }
  return undefined;
}

/** tool_choice: 'none' | 'auto' | 'required' | {type:'function', function:{name}} */
function IsToolChoice(): PropertyDecorator {
  return ValidateBy({
    name: 'isToolChoice',
    validator: {
      validate(value: unknown): boolean {
        if (value === 'none' || value === 'auto' || value === 'required') return true;
        return (
          isObject(value) &&
          value.type === 'function' &&
          isObject(value.function) &&
          typeof value.function.name === 'string'
        );
      },
      defaultMessage: () =>
        'tool_choice must be "none", "auto", "required" or {"type":"function","function":{"name":...}}',
    },
  });
}

/** stop: a string or up to 4 strings. */
function IsStop(): PropertyDecorator {
  return ValidateBy({
    name: 'isStop',
    validator: {
      validate(value: unknown): boolean {
        if (typeof value === 'string') return true;
        return Array.isArray(value) && value.length <= 4 && value.every((s) => typeof s === 'string');
      },
      defaultMessage: () => 'stop must be a string or an array of at most 4 strings',
    },
  });
}

export class ToolCallFunctionDto {
  @IsString() name!: string;
  @IsString() arguments!: string;
}

export class ToolCallDto {
  @IsString() @IsNotEmpty() id!: string;
  @Equals('function') type!: 'function';
  @IsObject() @ValidateNested() @Type(() => ToolCallFunctionDto) function!: ToolCallFunctionDto;
}

export class ChatMessageDto implements ChatMessage {
  @IsIn(ROLES, { message: `role must be one of ${ROLES.join(', ')}` }) role!: ChatRole;
  @IsMessageContent() content!: string | ContentPart[] | null;
  @IsOptional() @IsString() name?: string;

  @IsOptional()
  @IsArray()
  @ValidateNested({ each: true })
  @Type(() => ToolCallDto)
  tool_calls?: ToolCallDto[];

  @ValidateIf((m: ChatMessageDto) => m.role === 'tool' || m.tool_call_id !== undefined)
  @IsString({ message: 'tool_call_id is required on tool messages' })
  tool_call_id?: string;
}

export class ToolFunctionDto {
  @Matches(TOOL_NAME, { message: 'function name must match ^[a-zA-Z0-9_-]{1,64}$' }) name!: string;
  @IsOptional() @IsString() description?: string;
  @IsOptional() @IsObject() parameters?: Record<string, unknown>;
  @IsOptional() @IsBoolean() strict?: boolean;
}

export class ToolDto implements ChatTool {
  @Equals('function', { message: 'tool type must be "function"' }) type!: 'function';
  @IsObject() @ValidateNested() @Type(() => ToolFunctionDto) function!: ToolFunctionDto;
}

export class StreamOptionsDto {
  @IsOptional() @IsBoolean() include_usage?: boolean;
}

export class ReasoningDto implements ReasoningOptions {
  @IsOptional() @IsIn(EFFORTS) effort?: ReasoningEffort;
  @IsOptional() @IsInt() @Min(0) max_tokens?: number;
  @IsOptional() @IsBoolean() exclude?: boolean;
  @IsOptional() @IsBoolean() enabled?: boolean;
}

export class ResponseFormatDto implements ResponseFormat {
  @IsIn(['text', 'json_object', 'json_schema']) type!: 'text' | 'json_object' | 'json_schema';
  @ValidateIf((f: ResponseFormatDto) => f.type === 'json_schema') @IsObject() json_schema?: Record<
    string,
    unknown
  >;
}

const PROVIDER_ID = /^[a-z0-9][a-z0-9_.-]*$/i;

export class ProviderPreferencesDto implements ProviderPreferences {
  @IsOptional() @IsArray() @ArrayMaxSize(32) @Matches(PROVIDER_ID, { each: true }) order?: string[];
  @IsOptional() @IsBoolean() allow_fallbacks?: boolean;
  @IsOptional() @IsArray() @ArrayMaxSize(32) @Matches(PROVIDER_ID, { each: true }) only?: string[];
  @IsOptional() @IsArray() @ArrayMaxSize(32) @Matches(PROVIDER_ID, { each: true }) ignore?: string[];
  @IsOptional() @IsIn(['price', 'latency']) sort?: 'price' | 'latency';
}

export class ChatCompletionRequestDto implements ChatCompletionRequest {
  @IsString() @IsNotEmpty() @MaxLength(256) @Matches(MODEL_ID, { message: MODEL_ID_MESSAGE }) model!: string;

  @IsOptional()
  @IsArray()
  @ArrayMaxSize(16)
  @IsString({ each: true })
  @MaxLength(256, { each: true })
  @Matches(MODEL_ID, { each: true, message: MODEL_ID_MESSAGE })
  models?: string[];

  @IsOptional() @ValidateNested() @Type(() => ProviderPreferencesDto) provider?: ProviderPreferencesDto;

  @IsArray()
  @ArrayMinSize(1, { message: 'messages must contain at least one message' })
  @ValidateNested({ each: true })
  @Type(() => ChatMessageDto)
  messages!: ChatMessageDto[];

  @IsOptional() @IsBoolean() stream?: boolean;
  @IsOptional() @ValidateNested() @Type(() => StreamOptionsDto) stream_options?: StreamOptionsDto;
  @IsOptional() @IsNumber() @Min(0) @Max(2) temperature?: number;
  @IsOptional() @IsNumber() @Min(0) @Max(1) top_p?: number;
  @IsOptional() @IsInt() @Min(1) max_tokens?: number;
  @IsOptional() @IsInt() @Min(1) max_completion_tokens?: number;
  @IsOptional() @IsStop() stop?: string | string[];

  @IsOptional()
  @IsArray()
  @ArrayMaxSize(128)
  @ValidateNested({ each: true })
  @Type(() => ToolDto)
  tools?: ToolDto[];

  @IsOptional() @IsToolChoice() tool_choice?: ToolChoice;
  @IsOptional() @IsBoolean() parallel_tool_calls?: boolean;
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(1, { message: 'n > 1 is not supported: send one request per choice', context: UNSUPPORTED })
  n?: number;
  @IsOptional() @IsString() user?: string;
  @IsOptional() @IsInt() seed?: number;
  @IsOptional() @ValidateNested() @Type(() => ResponseFormatDto) response_format?: ResponseFormatDto;
  @IsOptional() @IsNumber() @Min(-2) @Max(2) presence_penalty?: number;
  @IsOptional() @IsNumber() @Min(-2) @Max(2) frequency_penalty?: number;
  @IsOptional() @IsIn(EFFORTS) reasoning_effort?: ReasoningEffort;
  @IsOptional() @ValidateNested() @Type(() => ReasoningDto) reasoning?: ReasoningDto;
  @IsOptional() @IsObject() metadata?: Record<string, string>;
}
