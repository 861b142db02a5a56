import {
  type ChatCompletionRequest,
  type ChatMessage,
  type ChatTool,
  type JsonSchema,
  maxOutputTokens,
  messageText,
  wantsReasoning,
} from '../../../contract/chat-request';
import type { FinishReason } from '../../../contract/stream-event';
import { hashString, loremText } from './lorem';
import { countTokens, tokenize } from './simulated.tokenizer';
import type { SimulatedBehaviour, SimulatedPlan, SimulatedToolCall } from './simulated.types';

const DEFAULT_LOREM_WORDS = 64;
const PER_MESSAGE_OVERHEAD = 4;
const PER_REQUEST_OVERHEAD = 2;

export interface PlanInput {
  behaviour: SimulatedBehaviour;
  request: ChatCompletionRequest;
  completionId: string;
  loremWords?: number;
}

/**
 * Decides what a simulated generation says: optional thinking, then either a tool call (when the request
 * offers tools and the last message is not a tool result) or text (the echo of the last user message, or lorem).
 * Honours stop sequences and the max-token cap, and counts usage like a real provider.
 */
export function planGeneration({ behaviour, request, completionId, loremWords }: PlanInput): SimulatedPlan {
  const messages = request.messages;
  const last = messages[messages.length - 1];
  const lastUser = [...messages].reverse().find((m) => m.role === 'user');
  const userText = lastUser ? messageText(lastUser) : '';
  const tool = last?.role === 'tool' ? undefined : pickTool(request, userText);

  let content = '';
  let finishReason: FinishReason = 'stop';
  let toolCall: SimulatedToolCall | undefined;
  if (tool) {
    toolCall = buildToolCall(tool, userText, completionId);
    finishReason = 'tool_calls';
  } else if (last?.role === 'tool') {
    content = describeToolResult(last, messages);
  } else if (behaviour === 'echo') {
    content = userText || '(empty message)';
  } else {
    const seed = request.seed ?? hashString(userText);
    content = loremText(loremWords ?? DEFAULT_LOREM_WORDS, seed);
  }

  content = truncateAtStop(content, request.stop);

  const showThinking = wantsReasoning(request) && !request.reasoning?.exclude;
  let thinking = showThinking ? tokenize(thinkingText(request, tool, behaviour, userText)) : [];
  const reasoningCap = request.reasoning?.max_tokens;
  if (reasoningCap !== undefined) thinking = thinking.slice(0, reasoningCap);

  let contentTokens = tokenize(content);
  const cap = maxOutputTokens(request);
  if (cap !== undefined && !toolCall) {
    thinking = thinking.slice(0, cap);
    const room = cap - thinking.length;
    if (contentTokens.length > room) {
      contentTokens = contentTokens.slice(0, Math.max(0, room));
      finishReason = 'length';
    }
  }

  const toolTokens = toolCall ? toolCall.argumentFragments.length : 0;
  return {
    thinking,
    content: contentTokens,
    toolCall,
    finishReason,
    promptTokens: countPromptTokens(request),
    completionTokens: thinking.length + contentTokens.length + toolTokens,
    reasoningTokens: thinking.length,
  };
}

export function countPromptTokens(request: ChatCompletionRequest): number {
  let total = PER_REQUEST_OVERHEAD;
  for (const message of request.messages) {
    total += PER_MESSAGE_OVERHEAD + countTokens(messageText(message));
    for (const call of message.tool_calls ?? [])
      total += countTokens(call.function.name + call.function.arguments);
  }
  if (request.tools) total += countTokens(JSON.stringify(request.tools));
  return total;
}

function pickTool(request: ChatCompletionRequest, userText: string): ChatTool | undefined {
  const tools = request.tools ?? [];
  const choice = request.tool_choice;
  if (tools.length === 0 || choice === 'none') return undefined;
  if (typeof choice === 'object') return tools.find((t) => t.function.name === choice.function.name);
  const lower = userText.toLowerCase();
  return tools.find((t) => lower.includes(t.function.name.toLowerCase())) ?? tools[0];
}

function buildToolCall(tool: ChatTool, userText: string, completionId: string): SimulatedToolCall {
  const args = JSON.stringify(sampleObject(tool.function.parameters, userText));
  return {
    id: `call_${hashString(completionId + tool.function.name).toString(36)}`,
    name: tool.function.name,
    argumentFragments: tokenize(args),
  };
}

/** Arguments that satisfy the required properties of a JSON schema, filled from the user's words. */
function sampleObject(schema: JsonSchema | undefined, userText: string): Record<string, unknown> {
  const properties = (schema?.properties ?? {}) as Record<string, JsonSchema>;
  const required = Array.isArray(schema?.required) ? (schema.required as string[]) : Object.keys(properties);
  const out: Record<string, unknown> = {};
  for (const key of required) out[key] = sampleValue(properties[key] ?? {}, userText);
  return out;
}

function sampleValue(schema: JsonSchema, userText: string): unknown {
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum[0];
  const type = Array.isArray(schema.type) ? (schema.type[0] as unknown) : schema.type;
  switch (type) {
    case 'string':
      return userText.trim().slice(0, 80) || 'example';
    case 'number':
    case 'integer': {
      const found = /-?\d+(?:\.\d+)?/.exec(userText);
      const value = found ? Number(found[0]) : 1;
      return type === 'integer' ? Math.trunc(value) : value;
    }
    case 'boolean':
      return true;
    case 'array':
      return [];
    case 'object':
      return sampleObject(schema, userText);
    default:
      return null;
  }
}

function describeToolResult(result: ChatMessage, messages: ChatMessage[]): string {
  const call = messages.flatMap((m) => m.tool_calls ?? []).find((c) => c.id === result.tool_call_id);
  const name = call ? call.function.name : 'tool';
  return `The ${name} tool returned: ${messageText(result)}`;
}

function thinkingText(
  request: ChatCompletionRequest,
  tool: ChatTool | undefined,
  behaviour: SimulatedBehaviour,
  userText: string,
): string {
  const words = countTokens(userText);
  const plan = tool
    ? `call the ${tool.function.name} tool with arguments taken from the request`
    : request.messages[request.messages.length - 1]?.role === 'tool'
      ? 'summarise the tool result for the user'
      : behaviour === 'echo'
        ? 'repeat the message back word for word'
        : 'write some placeholder text';
  return `The user sent ${words} tokens across ${request.messages.length} messages. I should ${plan}.`;
}

/** The text before the earliest stop sequence (the sequence itself is not returned, as OpenAI does). */
function truncateAtStop(text: string, stop: string | string[] | undefined): string {
  const sequences = stop === undefined ? [] : typeof stop === 'string' ? [stop] : stop;
  let cut = -1;
  for (const sequence of sequences) {
    if (sequence === '') continue;
    const at = text.indexOf(sequence);
    if (at !== -1 && (cut === -1 || at < cut)) cut = at;
  }
  return cut === -1 ? text : text.slice(0, cut);
}
