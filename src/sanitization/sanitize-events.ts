import type {
  ContentChunkEvent,
  ErrorEvent,
  StreamEvent,
  ThinkingEvent,
  ToolCallEvent,
} from '../contract/stream-event';
import type { PiiSanitizer } from './pii-sanitizer';
import type { StreamSanitizer } from './stream-sanitizer';

/**
 * A completion's events with PII masked as they pass: content (per choice index), thinking and each tool
 * call's arguments go through their own StreamSanitizer, so an entity split across deltas is still caught.
 * What a sanitizer holds back (the start of what may be an entity) goes out with the next delta, or just
 * before the terminal event. An event whose text is all held back is dropped (tool calls: kept, with empty
 * arguments, since they carry the call's id and name). Other events pass unchanged.
 */
export async function* sanitizeEvents(
  events: AsyncIterable<StreamEvent>,
  sanitizer: PiiSanitizer,
): AsyncGenerator<StreamEvent> {
  const content = new Map<number, { masker: StreamSanitizer; last: ContentChunkEvent }>();
  let thinking: { masker: StreamSanitizer; last: ThinkingEvent } | undefined;
  const tools = new Map<number, { masker: StreamSanitizer; last: ToolCallEvent }>();
  for await (const event of events) {
    switch (event.type) {
      case 'content_chunk': {
        let channel = content.get(event.index);
        if (!channel) content.set(event.index, (channel = { masker: sanitizer.stream(), last: event }));
        const masked = pushText(channel, event);
        if (masked) yield masked;
        break;
      }
      case 'thinking': {
        thinking ??= { masker: sanitizer.stream(), last: event };
        const masked = pushText(thinking, event);
        if (masked) yield masked;
        break;
      }
      case 'tool_call': {
        let channel = tools.get(event.index);
        if (!channel) tools.set(event.index, (channel = { masker: sanitizer.stream(), last: event }));
        channel.last = event;
        const text = channel.masker.push(event.argumentsDelta);
        yield text === event.argumentsDelta ? event : { ...event, argumentsDelta: text };
        break;
      }
      case 'completed':
      case 'error':
        yield* flush(content, thinking, tools);
        content.clear();
        thinking = undefined;
        tools.clear();
        yield event.type === 'error' ? maskError(event, sanitizer) : event;
        break;
      case 'tool_result':
        yield event;
        break;
    }
  }
  // A source that ended without a terminal event (it always has one; defensive): nothing held is lost.
  yield* flush(content, thinking, tools);
}

/** A text event through its channel's masker: itself when nothing changed, undefined when all is held. */
function pushText<E extends ContentChunkEvent | ThinkingEvent>(
  channel: { masker: StreamSanitizer; last: E },
  event: E,
): E | undefined {
  channel.last = event;
  const text = channel.masker.push(event.content);
  if (text === event.content) return event;
  return text === '' ? undefined : { ...event, content: text };
}

function* flush(
  content: Map<number, { masker: StreamSanitizer; last: ContentChunkEvent }>,
  thinking: { masker: StreamSanitizer; last: ThinkingEvent } | undefined,
  tools: Map<number, { masker: StreamSanitizer; last: ToolCallEvent }>,
): Generator<StreamEvent> {
  if (thinking) {
    const text = thinking.masker.flush();
    if (text !== '') yield { ...thinking.last, content: text };
  }
  for (const { masker, last } of content.values()) {
    const text = masker.flush();
    if (text !== '') yield { ...last, content: text };
  }
  for (const { masker, last } of tools.values()) {
    const text = masker.flush();
    if (text !== '') yield { ...last, argumentsDelta: text };
  }
}

/** An error's message may quote the upstream (which may quote the prompt). */
function maskError(event: ErrorEvent, sanitizer: PiiSanitizer): ErrorEvent {
  const message = sanitizer.mask(event.error.message);
  return message === event.error.message ? event : { ...event, error: { ...event.error, message } };
}
