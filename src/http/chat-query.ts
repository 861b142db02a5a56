import { CompletionError, RequestErrorCode } from '../contract/error-code';

/**
 * The EventSource form puts the request in the query string: `model`, `messages` (a URL-encoded JSON array),
 * and optional parameters. Numbers and booleans are read from their text; JSON-valued parameters are parsed.
 * Anything that does not parse is left as text so that validation names the parameter. Other parameters
 * (cache busters, `access_token` for auth) are ignored, as unknown body fields are.
 */
const JSON_PARAMS = [
  'messages',
  'tools',
  'stop',
  'tool_choice',
  'response_format',
  'reasoning',
  'metadata',
  'models',
  'provider',
] as const;
const NUMBER_PARAMS = [
  'temperature',
  'top_p',
  'max_tokens',
  'max_completion_tokens',
  'seed',
  'n',
  'presence_penalty',
  'frequency_penalty',
] as const;
const BOOLEAN_PARAMS = ['parallel_tool_calls', 'include_usage'] as const;
const TEXT_PARAMS = ['model', 'user', 'reasoning_effort'] as const;

export function chatRequestFromQuery(
  query: Record<string, string | string[] | undefined>,
): Record<string, unknown> {
  const single = (name: string): string | undefined => {
    const value = query[name];
    if (Array.isArray(value)) {
      throw new CompletionError(
        RequestErrorCode.InvalidRequest,
        `Query parameter '${name}' appears more than once.`,
        {
          param: name,
        },
      );
    }
    return value;
  };
  const out: Record<string, unknown> = { stream: true };
  for (const name of TEXT_PARAMS) {
    const value = single(name);
    if (value !== undefined) out[name] = value;
  }
  for (const name of NUMBER_PARAMS) {
    const value = single(name);
    if (value !== undefined)
      out[name] = value.trim() !== '' && Number.isFinite(Number(value)) ? Number(value) : value;
  }
  for (const name of BOOLEAN_PARAMS) {
    const value = single(name);
    if (value !== undefined) out[name] = value === 'true' ? true : value === 'false' ? false : value;
  }
  for (const name of JSON_PARAMS) {
    const value = single(name);
    if (value === undefined) continue;
    out[name] = parseJsonParam(name, value);
  }
  if (out.include_usage !== undefined) {
    out.stream_options = { include_usage: out.include_usage };
    delete out.include_usage;
  }
  return out;
}

function parseJsonParam(name: string, value: string): unknown {
  // stop and tool_choice may also be given as plain text: stop=END, tool_choice=auto
  const plainText = name === 'stop' || name === 'tool_choice';
  try {
    return JSON.parse(value) as unknown;
  } catch {
    if (plainText) return value;
    throw new CompletionError(
      RequestErrorCode.InvalidRequest,
      `Query parameter '${name}' must be URL-encoded JSON${name === 'messages' ? ' (an array of messages)' : ''}.`,
      { param: name },
    );
  }
}
