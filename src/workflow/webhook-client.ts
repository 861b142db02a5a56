import { Agent, buildConnector, request, type Dispatcher } from 'undici';
import { isObject } from '../common/is-object';
import type { AddressAllowList } from '../common/net/address-allow-list';
import { readPath } from './guard';
import {
  type HostLookup,
  resolveTarget,
  systemLookup,
  TargetRefused,
  webhookUrlProblem,
} from './webhook-target';
import type { WebhookAction } from './workflow-definition';

/** What a failed webhook call says to the run, its events and its callers, whatever went wrong. */
export const WEBHOOK_FAILED = 'The webhook call failed.';

/**
 * A webhook call that failed. Its message is always WEBHOOK_FAILED, so that a run cannot tell a refused
 * address from a closed port, a timeout or an HTTP 404 (no port scanning through workflows); `detail` says
 * which, for the operator's log only. Neither ever holds header values or the answer's body.
 */
export class WebhookError extends Error {
  constructor(readonly detail: string) {
    super(WEBHOOK_FAILED);
  }
}

export interface WebhookCall {
  workflowId: string;
  runId: string;
  transition: string;
  data: Record<string, unknown>;
}

export interface WebhookResult {
  /** The token data: the input's, plus the mapped answer fields (if the action maps any). */
  data: Record<string, unknown>;
  status: number;
  durationMs: number;
}

export interface WebhookClientOptions {
  /** `workflows.webhooks.allow`. */
  allow: AddressAllowList;
  /** `workflows.webhooks.max_response`, bytes. */
  maxResponseBytes: number;
  /** How hostnames resolve (default: the system resolver). */
  lookup?: HostLookup;
}

/** Header values shorter than this are not looked for in answers (they would mask ordinary words). */
const MIN_SECRET_LENGTH = 8;
const MASK = '***';

/**
 * Calls webhook actions. Every connection goes through one connector that resolves the host once, refuses
 * it unless every address is allowed (see resolveTarget), and connects to the checked address, keeping the
 * URL's host for the Host header and TLS SNI; so DNS rebinding cannot swap the address after the check.
 * No redirects are followed (a 3xx fails the call), the answer is read up to max_response, and the whole
 * call ends at the action's timeout.
 */
export class WebhookClient {
  private readonly agent: Agent;

  constructor(private readonly options: WebhookClientOptions) {
    const connect = buildConnector({});
    const lookup = options.lookup ?? systemLookup;
    this.agent = new Agent({
      connect: (target, callback) => {
        resolveTarget(target.hostname, options.allow, lookup).then(
          (address) => connect({ ...target, hostname: address }, callback),
          (err: Error) => callback(err, null),
        );
      },
    });
  }

  /**
   * POSTs (or PUTs) `{workflowId, runId, transition, data}` as JSON. With `response.fields`, the answer must
   * be a JSON object and those fields are added to the data (header values found in them masked); without,
   * the answer is read and dropped.
   */
  async call(action: WebhookAction, call: WebhookCall, signal: AbortSignal): Promise<WebhookResult> {
    const started = performance.now();
    // Again at call time: a definition stored before the rules (or the allow list) changed.
    const problem = webhookUrlProblem(action.url, this.options.allow);
    if (problem) throw new WebhookError(`url refused: ${problem}`);
    const timeout = AbortSignal.timeout(action.timeoutMs);
    const abort = AbortSignal.any([signal, timeout]);
    let response: Dispatcher.ResponseData;
    try {
      response = await request(action.url, {
        dispatcher: this.agent,
        method: action.method,
        headers: { ...action.headers, 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify(call),
        signal: abort,
      });
    } catch (err) {
      throw new WebhookError(failure(err, timeout, signal, action.timeoutMs));
    }
    let body: string;
    try {
      body = await readCapped(response, this.options.maxResponseBytes);
    } catch (err) {
      throw new WebhookError(failure(err, timeout, signal, action.timeoutMs));
    }
    const status = response.statusCode;
    if (status < 200 || status > 299) throw new WebhookError(`answered HTTP ${status}`);
    const durationMs = Math.round(performance.now() - started);
    const fields = action.response?.fields;
    if (!fields) return { data: call.data, status, durationMs };
    let answer: unknown;
    try {
      answer = JSON.parse(body);
    } catch {
      throw new WebhookError('the answer is not JSON');
    }
    if (!isObject(answer)) throw new WebhookError('the answer is not a JSON object');
    const secrets = secretsOf(action.headers);
    const mapped: Record<string, unknown> = {};
    for (const [key, path] of Object.entries(fields)) {
      const value = readPath(answer, path);
      if (value !== undefined) mapped[key] = secrets.length ? masked(value, secrets) : value;
    }
    return { data: { ...call.data, ...mapped }, status, durationMs };
  }

  /** Closes the pooled connections. */
  close(): Promise<void> {
    return this.agent.close();
  }
}

/** The log detail of a failed request or read. */
function failure(err: unknown, timeout: AbortSignal, signal: AbortSignal, timeoutMs: number): string {
  if (err instanceof TargetRefused) return `refused: ${err.detail}`;
  if (timeout.aborted) return `timed out after ${timeoutMs} ms`;
  if (signal.aborted) return 'aborted with the run';
  if (err instanceof AnswerTooLarge) return err.message;
  const cause = err instanceof Error && err.cause instanceof TargetRefused ? err.cause : undefined;
  if (cause) return `refused: ${cause.detail}`;
  const code = (err as { code?: unknown }).code;
  return `could not be reached (${typeof code === 'string' ? code : 'error'})`;
}

class AnswerTooLarge extends Error {}

async function readCapped(response: Dispatcher.ResponseData, maxBytes: number): Promise<string> {
  const declared = Number(response.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    response.body.destroy();
    throw new AnswerTooLarge(`the answer is over ${maxBytes} bytes`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response.body as AsyncIterable<Buffer>) {
    size += chunk.byteLength;
    if (size > maxBytes) {
      response.body.destroy();
      throw new AnswerTooLarge(`the answer is over ${maxBytes} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The header values to mask in answers: whole values, and the credential after a scheme (`Bearer x`). */
function secretsOf(headers: Record<string, string>): string[] {
  const secrets = new Set<string>();
  for (const value of Object.values(headers)) {
    const trimmed = value.trim();
    if (trimmed.length >= MIN_SECRET_LENGTH) secrets.add(trimmed);
    const credential = /^\S+\s+(\S.*)$/.exec(trimmed)?.[1];
    if (credential && credential.length >= MIN_SECRET_LENGTH) secrets.add(credential);
  }
  // Longest first, so a value is masked whole before a part of it is.
  return [...secrets].sort((a, b) => b.length - a.length);
}

/** The value with every occurrence of a secret in its strings (keys included) replaced by `***`. */
function masked(value: unknown, secrets: string[]): unknown {
  if (typeof value === 'string')
    return secrets.reduce((text, secret) => text.replaceAll(secret, MASK), value);
  if (Array.isArray(value)) return value.map((item) => masked(item, secrets));
  if (isObject(value)) {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [masked(k, secrets) as string, masked(v, secrets)]),
    );
  }
  return value;
}
