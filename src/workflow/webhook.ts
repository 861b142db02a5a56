import { isObject } from '../common/is-object';
import type { WebhookAction } from './workflow-definition';

/** The most of a webhook's answer that is read. */
const MAX_RESPONSE_BYTES = 1024 * 1024;

/** A webhook call that failed; the message is safe to show (it names the host, never headers or the body). */
export class WebhookError extends Error {}

export interface WebhookCall {
  workflowId: string;
  runId: string;
  transition: string;
  data: Record<string, unknown>;
}

export interface WebhookResult {
  data: Record<string, unknown>;
  status: number;
  durationMs: number;
}

/**
 * Calls a webhook action: POSTs (or PUTs) `{workflowId, runId, transition, data}` as JSON and expects a JSON
 * object back, merged into the data (or written under `output`). Ends at the action's timeout or when the
 * run is aborted.
 */
export async function callWebhook(
  action: WebhookAction,
  call: WebhookCall,
  signal: AbortSignal,
): Promise<WebhookResult> {
  const host = new URL(action.url).host;
  const started = performance.now();
  const timeout = AbortSignal.timeout(action.timeoutMs);
  let response: Response;
  try {
    response = await fetch(action.url, {
      method: action.method,
      headers: { ...action.headers, 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(call),
      signal: AbortSignal.any([signal, timeout]),
      redirect: 'error',
    });
  } catch {
    if (timeout.aborted) throw new WebhookError(`webhook to ${host} timed out after ${action.timeoutMs} ms`);
    if (signal.aborted) throw new WebhookError(`webhook to ${host} was aborted`);
    throw new WebhookError(`webhook to ${host} could not be reached`);
  }
  let text: string;
  try {
    text = await readCapped(response);
  } catch {
    throw new WebhookError(
      timeout.aborted
        ? `webhook to ${host} timed out after ${action.timeoutMs} ms`
        : `webhook to ${host}: the answer could not be read`,
    );
  }
  if (!response.ok) throw new WebhookError(`webhook to ${host} answered HTTP ${response.status}`);
  let answer: unknown;
  try {
    answer = text.trim() === '' ? {} : JSON.parse(text);
  } catch {
    throw new WebhookError(`webhook to ${host} did not answer JSON`);
  }
  if (!isObject(answer)) throw new WebhookError(`webhook to ${host} must answer a JSON object`);
  const data = action.output ? { ...call.data, [action.output]: answer } : { ...call.data, ...answer };
  return { data, status: response.status, durationMs: Math.round(performance.now() - started) };
}

async function readCapped(response: Response): Promise<string> {
  if (!response.body) return '';
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > MAX_RESPONSE_BYTES) throw new Error('too large');
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks).toString('utf8');
}
