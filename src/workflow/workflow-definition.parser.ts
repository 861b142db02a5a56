import { isObject } from '../common/is-object';
import { AddressAllowList } from '../common/net/address-allow-list';
import { parseDuration } from '../config/units';
import { builtinArgsProblems, outputKeyProblems, templateStringProblems } from './builtin-functions';
import { FIELD_PATH, guardProblems } from './guard';
import { analyzeNet, markablePlaces } from './net-analysis';
import { webhookUrlProblem } from './webhook-target';
import { WorkflowDefinitionError } from './workflow.error';
import {
  BUILTIN_FUNCTIONS,
  type Action,
  type AgentAction,
  type DefinitionProblem,
  type FunctionAction,
  type Guard,
  type NetAnalysis,
  type PlaceDefinition,
  type TransitionDefinition,
  type WebhookAction,
  type WebhookResponseMapping,
  type WorkflowDefinition,
} from './workflow-definition';

/** How to check a definition against its environment, and the analysis limits. */
export interface ParseOptions {
  /** Whether a model id, alias or virtual model is in the catalogue. */
  knownModel: (id: string) => boolean;
  /** The webhook timeout when an action sets none, ms. */
  defaultWebhookTimeoutMs: number;
  /** Addresses webhooks may point to besides public ones (`workflows.webhooks.allow`; default none). */
  webhookAllow?: AddressAllowList;
  /** The most markings the reachability analysis explores (default 10 000). */
  maxStates?: number;
  /** The most tokens one place may hold before the net counts as unbounded (default 8). */
  tokenBound?: number;
}

/** A valid, normalised definition and what the reachability analysis found. */
export interface ParsedWorkflow {
  definition: WorkflowDefinition;
  analysis: NetAnalysis;
}

/** Workflow, place, transition and agent ids. */
export const ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
/** The most places, and the most transitions, a net may have. */
export const MAX_NET_ELEMENTS = 100;
/** The most steps `max_steps` allows. */
export const MAX_STEPS_LIMIT = 10_000;

const DEFAULT_MAX_STATES = 10_000;
const DEFAULT_TOKEN_BOUND = 8;
const MAX_TIMEOUT_MS = 24 * 3_600_000;
const MAX_WEBHOOK_TIMEOUT_MS = 5 * 60_000;
const MAX_NAME_LENGTH = 200;
const MAX_DESCRIPTION_LENGTH = 2_000;
const HEADER_NAME = /^[A-Za-z0-9-]{1,64}$/;
/** Headers the service sets itself (framing, routing, the JSON body): a definition may not. */
const RESERVED_HEADERS = new Set([
  'host',
  'content-length',
  'content-type',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'upgrade',
  'expect',
  'te',
  'trailer',
  'proxy-authorization',
  'proxy-connection',
]);
/** The most answer fields one webhook maps. */
const MAX_RESPONSE_FIELDS = 32;
const NO_ALLOW_LIST = new AddressAllowList([]);
const ACTION_TYPES = ['none', 'agent', 'function', 'webhook'] as const;

const ROOT_KEYS = ['id', 'name', 'description', 'timeout', 'max_steps', 'places', 'transitions'];
const PLACE_KEYS = ['id', 'description', 'initial', 'final'];
const TRANSITION_KEYS = ['id', 'description', 'inputs', 'outputs', 'guard', 'action'];
const ACTION_KEYS: Record<(typeof ACTION_TYPES)[number], string[]> = {
  none: ['type'],
  agent: ['type', 'agent', 'model', 'system', 'prompt', 'output', 'max_tokens', 'temperature'],
  function: ['type', 'function', 'args'],
  webhook: ['type', 'url', 'method', 'headers', 'timeout', 'response'],
};

/** Collects problems while a definition is read. */
type Problems = DefinitionProblem[];

/**
 * Validates a raw (JSON or YAML-loaded, snake_case) workflow definition and returns it normalised, with the
 * result of the reachability analysis. Throws WorkflowDefinitionError listing every problem found: field
 * problems first; then, if there were none, places that can never be marked; then, if still none, deadlocks.
 */
export function parseWorkflowDefinition(raw: unknown, options: ParseOptions): ParsedWorkflow {
  const problems: Problems = [];
  const definition = readDefinition(raw, options, problems);
  if (!definition || problems.length) throw new WorkflowDefinitionError(problems);
  problems.push(...structuralProblems(definition));
  if (problems.length) throw new WorkflowDefinitionError(problems);
  const analysis = analyzeNet(definition, {
    maxStates: options.maxStates ?? DEFAULT_MAX_STATES,
    tokenBound: options.tokenBound ?? DEFAULT_TOKEN_BOUND,
  });
  problems.push(...analysis.deadlocks.map((d) => ({ path: '', message: deadlockMessage(d) })));
  if (problems.length) throw new WorkflowDefinitionError(problems);
  return { definition, analysis };
}

/** The problem message for a deadlock found by analyzeNet. */
export function deadlockMessage(deadlock: NetAnalysis['deadlocks'][number]): string {
  const marking = `{${Object.entries(deadlock.marking)
    .map(([place, tokens]) => `${place}: ${tokens}`)
    .join(', ')}}`;
  const when = deadlock.path.length ? `after firing ${deadlock.path.join(', ')}` : 'at the start';
  return `the net can deadlock: ${when} the marking ${marking} enables no transition and marks no final place`;
}

function readDefinition(
  raw: unknown,
  options: ParseOptions,
  problems: Problems,
): WorkflowDefinition | undefined {
  if (!isObject(raw)) {
    problems.push({ path: '', message: 'a workflow definition must be an object' });
    return undefined;
  }
  unknownFields(raw, ROOT_KEYS, '', problems);
  const id = readId(raw.id, 'id', problems);
  if (id?.startsWith('run_')) problems.push({ path: 'id', message: "must not start with 'run_'" });
  const places = readPlaces(raw.places, problems);
  const placeIds = places && new Set(places.map((p) => p.id));
  const transitions = readTransitions(raw.transitions, placeIds, options, problems);
  const name = readText(raw.name, 'name', MAX_NAME_LENGTH, problems);
  const description = readText(raw.description, 'description', MAX_DESCRIPTION_LENGTH, problems);
  const timeoutMs = readTimeout(raw.timeout, 'timeout', MAX_TIMEOUT_MS, '24h', problems);
  const maxSteps = readMaxSteps(raw.max_steps, problems);
  if (id === undefined || !places || !transitions) return undefined;
  return omitUndefined({ id, name: name ?? id, description, places, transitions, timeoutMs, maxSteps });
}

function readPlaces(raw: unknown, problems: Problems): PlaceDefinition[] | undefined {
  const items = readList(raw, 'places', problems);
  if (!items) return undefined;
  const places = items.map((item, i) => readPlace(item, `places[${i}]`, problems));
  duplicateIds(places, 'places', problems);
  const valid = places.filter((p): p is PlaceDefinition => p !== undefined);
  if (valid.length === places.length) {
    if (!valid.some((p) => p.initial)) {
      problems.push({ path: 'places', message: 'no initial place (set initial: true on at least one)' });
    }
    if (!valid.some((p) => p.final)) {
      problems.push({ path: 'places', message: 'no final place (set final: true on at least one)' });
    }
  }
  return valid;
}

function readPlace(raw: unknown, path: string, problems: Problems): PlaceDefinition | undefined {
  if (!isObject(raw)) {
    problems.push({ path, message: 'a place must be an object' });
    return undefined;
  }
  unknownFields(raw, PLACE_KEYS, path, problems);
  const id = readId(raw.id, `${path}.id`, problems);
  const description = readText(raw.description, `${path}.description`, MAX_DESCRIPTION_LENGTH, problems);
  const initial = readBoolean(raw.initial, `${path}.initial`, problems);
  const final = readBoolean(raw.final, `${path}.final`, problems);
  if (initial && final) {
    problems.push({ path, message: `place '${id ?? '?'}' cannot be both initial and final` });
  }
  if (id === undefined) return undefined;
  return omitUndefined({ id, description, initial, final });
}

function readTransitions(
  raw: unknown,
  placeIds: Set<string> | undefined,
  options: ParseOptions,
  problems: Problems,
): TransitionDefinition[] | undefined {
  const items = readList(raw, 'transitions', problems);
  if (!items) return undefined;
  const transitions = items.map((item, i) =>
    readTransition(item, `transitions[${i}]`, placeIds, options, problems),
  );
  duplicateIds(transitions, 'transitions', problems);
  return transitions.filter((t): t is TransitionDefinition => t !== undefined);
}

function readTransition(
  raw: unknown,
  path: string,
  placeIds: Set<string> | undefined,
  options: ParseOptions,
  problems: Problems,
): TransitionDefinition | undefined {
  if (!isObject(raw)) {
    problems.push({ path, message: 'a transition must be an object' });
    return undefined;
  }
  unknownFields(raw, TRANSITION_KEYS, path, problems);
  const id = readId(raw.id, `${path}.id`, problems);
  const description = readText(raw.description, `${path}.description`, MAX_DESCRIPTION_LENGTH, problems);
  const inputs = readArcs(raw.inputs, `${path}.inputs`, placeIds, problems);
  const outputs = readArcs(raw.outputs, `${path}.outputs`, placeIds, problems);
  const guard = readGuard(raw.guard, `${path}.guard`, problems);
  const action = readAction(raw.action, `${path}.action`, id, options, problems);
  if (id === undefined || !inputs || !outputs || !action) return undefined;
  return omitUndefined({ id, description, inputs, outputs, guard, action });
}

function readArcs(
  raw: unknown,
  path: string,
  placeIds: Set<string> | undefined,
  problems: Problems,
): string[] | undefined {
  if (!Array.isArray(raw) || raw.length === 0) {
    problems.push({ path, message: 'must be a non-empty array of place ids' });
    return undefined;
  }
  const before = problems.length;
  raw.forEach((place: unknown, i) => {
    const at = `${path}[${i}]`;
    if (typeof place !== 'string') problems.push({ path: at, message: 'must be a place id' });
    else if (placeIds && !placeIds.has(place))
      problems.push({ path: at, message: `unknown place '${place}'` });
    else if (raw.indexOf(place) < i) problems.push({ path: at, message: `place '${place}' is listed twice` });
  });
  return problems.length === before ? (raw as string[]).slice() : undefined;
}

function readGuard(raw: unknown, path: string, problems: Problems): Guard | undefined {
  if (raw === undefined) return undefined;
  const found = guardProblems(raw, path);
  problems.push(...found);
  return found.length ? undefined : (structuredClone(raw) as Guard);
}

function readAction(
  raw: unknown,
  path: string,
  transitionId: string | undefined,
  options: ParseOptions,
  problems: Problems,
): Action | undefined {
  if (raw === undefined) return { type: 'none' };
  if (!isObject(raw)) {
    problems.push({ path, message: 'an action must be an object' });
    return undefined;
  }
  const type = ACTION_TYPES.find((t) => t === raw.type);
  if (!type) {
    // JSON, not String(): a JSON object whose toString is not a function makes String() throw.
    const shown =
      typeof raw.type === 'string'
        ? `'${raw.type}'`
        : (JSON.stringify(raw.type)?.slice(0, 64) ?? 'undefined');
    const message = `unknown action type ${shown} (allowed: ${ACTION_TYPES.join(', ')})`;
    problems.push({ path: `${path}.type`, message });
    return undefined;
  }
  if (type === 'webhook' && Object.hasOwn(raw, 'output')) {
    // Webhooks once merged their whole answer (or wrote it under `output`): the answer is now read only
    // through named fields, so say how rather than "unknown field".
    problems.push({
      path: `${path}.output`,
      message:
        "webhook answers are no longer merged; name the fields to keep with response: {fields: {key: 'path.in.answer'}}",
    });
  }
  unknownFields(raw, [...ACTION_KEYS[type], ...(type === 'webhook' ? ['output'] : [])], path, problems);
  switch (type) {
    case 'none':
      return { type: 'none' };
    case 'agent':
      return readAgent(raw, path, transitionId, options, problems);
    case 'function':
      return readFunction(raw, path, problems);
    case 'webhook':
      return readWebhook(raw, path, options, problems);
  }
}

function readAgent(
  raw: Record<string, unknown>,
  path: string,
  transitionId: string | undefined,
  options: ParseOptions,
  problems: Problems,
): AgentAction | undefined {
  const before = problems.length;
  const agent = raw.agent === undefined ? transitionId : readId(raw.agent, `${path}.agent`, problems);
  const model = raw.model;
  if (typeof model !== 'string' || model.trim() === '') {
    problems.push({ path: `${path}.model`, message: 'must be a non-empty model id' });
  } else if (!options.knownModel(model)) {
    problems.push({ path: `${path}.model`, message: `unknown model '${model}'` });
  }
  problems.push(...templateStringProblems(raw.prompt, `${path}.prompt`));
  if (raw.system !== undefined) problems.push(...templateStringProblems(raw.system, `${path}.system`));
  const output = readAgentOutput(raw.output, agent, `${path}.output`, problems);
  checkNumber(raw.max_tokens, `${path}.max_tokens`, { min: 1, max: 1_000_000, integer: true }, problems);
  checkNumber(raw.temperature, `${path}.temperature`, { min: 0, max: 2, integer: false }, problems);
  if (problems.length > before || agent === undefined || output === undefined) return undefined;
  return omitUndefined({
    type: 'agent' as const,
    agent,
    model: model as string,
    system: raw.system as string | undefined,
    prompt: raw.prompt as string,
    output,
    max_tokens: raw.max_tokens as number | undefined,
    temperature: raw.temperature as number | undefined,
  });
}

function readAgentOutput(
  raw: unknown,
  agent: string | undefined,
  path: string,
  problems: Problems,
): string | undefined {
  if (raw !== undefined) {
    const found = outputKeyProblems(raw, path);
    problems.push(...found);
    return found.length ? undefined : (raw as string);
  }
  if (agent === undefined) return undefined;
  if (outputKeyProblems(agent, path).length) {
    problems.push({
      path,
      message: `the default output '${agent}' (the agent name) is not a valid data key; set 'output'`,
    });
    return undefined;
  }
  return agent;
}

function readFunction(
  raw: Record<string, unknown>,
  path: string,
  problems: Problems,
): FunctionAction | undefined {
  const name = BUILTIN_FUNCTIONS.find((f) => f === raw.function);
  if (!name) {
    problems.push({ path: `${path}.function`, message: `must be one of ${BUILTIN_FUNCTIONS.join(', ')}` });
    return undefined;
  }
  const args: unknown = raw.args ?? {};
  const found = builtinArgsProblems(name, args, `${path}.args`);
  problems.push(...found);
  if (found.length) return undefined;
  return { type: 'function', function: name, args: structuredClone(args) as Record<string, unknown> };
}

function readWebhook(
  raw: Record<string, unknown>,
  path: string,
  options: ParseOptions,
  problems: Problems,
): WebhookAction | undefined {
  const before = problems.length;
  const urlProblem = webhookUrlProblem(raw.url, options.webhookAllow ?? NO_ALLOW_LIST);
  if (urlProblem) problems.push({ path: `${path}.url`, message: urlProblem });
  const method = raw.method ?? 'POST';
  if (method !== 'POST' && method !== 'PUT')
    problems.push({ path: `${path}.method`, message: 'must be POST or PUT' });
  const headers = readHeaders(raw.headers ?? {}, `${path}.headers`, problems);
  const timeoutMs =
    readTimeout(raw.timeout, `${path}.timeout`, MAX_WEBHOOK_TIMEOUT_MS, '5m', problems) ??
    options.defaultWebhookTimeoutMs;
  const response = readResponseMapping(raw.response, `${path}.response`, problems);
  if (problems.length > before || !headers) return undefined;
  return omitUndefined({
    type: 'webhook' as const,
    url: raw.url as string,
    method: method as 'POST' | 'PUT',
    headers,
    timeoutMs,
    response,
  });
}

/** `response: {fields: {key: 'dotted.path'}}`: which parts of the answer reach the data. */
function readResponseMapping(
  raw: unknown,
  path: string,
  problems: Problems,
): WebhookResponseMapping | undefined {
  if (raw === undefined) return undefined;
  if (!isObject(raw)) {
    problems.push({ path, message: "must be an object such as {fields: {summary: 'result.summary'}}" });
    return undefined;
  }
  unknownFields(raw, ['fields'], path, problems);
  const fields = raw.fields;
  const at = `${path}.fields`;
  const count = isObject(fields) ? Object.keys(fields).length : 0;
  if (!isObject(fields) || count === 0 || count > MAX_RESPONSE_FIELDS) {
    problems.push({
      path: at,
      message: `must be an object of 1 to ${MAX_RESPONSE_FIELDS} data keys to dotted paths in the answer`,
    });
    return undefined;
  }
  const before = problems.length;
  for (const [key, source] of Object.entries(fields)) {
    problems.push(...outputKeyProblems(key, `${at}.${key}`));
    if (typeof source !== 'string' || !FIELD_PATH.test(source)) {
      problems.push({
        path: `${at}.${key}`,
        message: "must be a dotted path in the answer such as 'result.summary'",
      });
    }
  }
  return problems.length === before ? { fields: { ...(fields as Record<string, string>) } } : undefined;
}

function readHeaders(raw: unknown, path: string, problems: Problems): Record<string, string> | undefined {
  if (!isObject(raw)) {
    problems.push({ path, message: 'must be an object of header names to string values' });
    return undefined;
  }
  const before = problems.length;
  for (const [name, value] of Object.entries(raw)) {
    if (!HEADER_NAME.test(name)) problems.push({ path: `${path}.${name}`, message: 'invalid header name' });
    else if (RESERVED_HEADERS.has(name.toLowerCase()))
      problems.push({ path: `${path}.${name}`, message: `'${name}' is set by the service` });
    else if (typeof value !== 'string')
      problems.push({ path: `${path}.${name}`, message: 'must be a string' });
    else if (/[\r\n]/.test(value)) {
      problems.push({ path: `${path}.${name}`, message: 'must not contain line breaks' });
    }
  }
  return problems.length === before ? { ...(raw as Record<string, string>) } : undefined;
}

/** The places that can never be marked: transitions that can never fire, final places never reached. */
function structuralProblems(def: WorkflowDefinition): Problems {
  const markable = markablePlaces(def);
  const problems: Problems = [];
  def.transitions.forEach((t, i) => {
    const dead = t.inputs.find((p) => !markable.has(p));
    if (dead !== undefined) {
      const message = `transition '${t.id}' can never fire: place '${dead}' can never be marked`;
      problems.push({ path: `transitions[${i}]`, message });
    }
  });
  def.places.forEach((p, i) => {
    if (p.final && !markable.has(p.id)) {
      problems.push({ path: `places[${i}]`, message: `final place '${p.id}' can never be reached` });
    }
  });
  return problems;
}

function readList(raw: unknown, path: string, problems: Problems): unknown[] | undefined {
  if (!Array.isArray(raw) || raw.length === 0) {
    problems.push({ path, message: 'must be a non-empty array' });
    return undefined;
  }
  if (raw.length > MAX_NET_ELEMENTS) {
    problems.push({ path, message: `must have at most ${MAX_NET_ELEMENTS} entries` });
    return undefined;
  }
  return raw as unknown[];
}

function duplicateIds(items: Array<{ id: string } | undefined>, path: string, problems: Problems): void {
  const seen = new Set<string>();
  items.forEach((item, i) => {
    if (!item) return;
    if (seen.has(item.id)) problems.push({ path: `${path}[${i}].id`, message: `duplicate id '${item.id}'` });
    seen.add(item.id);
  });
}

function readId(raw: unknown, path: string, problems: Problems): string | undefined {
  if (typeof raw === 'string' && ID_PATTERN.test(raw)) return raw;
  const message = raw === undefined ? 'required' : 'must be 1 to 64 of the characters A-Z a-z 0-9 _ . -';
  problems.push({ path, message });
  return undefined;
}

function readText(raw: unknown, path: string, maxLength: number, problems: Problems): string | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string' || raw.trim() === '' || raw.length > maxLength) {
    problems.push({ path, message: `must be a non-empty string of at most ${maxLength} characters` });
    return undefined;
  }
  return raw;
}

function readBoolean(raw: unknown, path: string, problems: Problems): boolean {
  if (raw === undefined) return false;
  if (typeof raw !== 'boolean') problems.push({ path, message: 'must be true or false' });
  return raw === true;
}

function readTimeout(
  raw: unknown,
  path: string,
  maxMs: number,
  maxText: string,
  problems: Problems,
): number | undefined {
  if (raw === undefined) return undefined;
  const ms = parseDuration(raw);
  if (ms === undefined) {
    problems.push({ path, message: "must be a duration such as '30s', '5m' or '1h'" });
    return undefined;
  }
  if (ms <= 0 || ms > maxMs) {
    problems.push({ path, message: `must be more than 0 and at most ${maxText}` });
    return undefined;
  }
  return ms;
}

function readMaxSteps(raw: unknown, problems: Problems): number | undefined {
  if (raw === undefined) return undefined;
  checkNumber(raw, 'max_steps', { min: 1, max: MAX_STEPS_LIMIT, integer: true }, problems);
  return raw as number;
}

function checkNumber(
  raw: unknown,
  path: string,
  range: { min: number; max: number; integer: boolean },
  problems: Problems,
): void {
  if (raw === undefined) return;
  const valid =
    typeof raw === 'number' &&
    Number.isFinite(raw) &&
    (!range.integer || Number.isInteger(raw)) &&
    raw >= range.min &&
    raw <= range.max;
  if (!valid) {
    const kind = range.integer ? 'an integer' : 'a number';
    problems.push({ path, message: `must be ${kind} from ${range.min} to ${range.max}` });
  }
}

function unknownFields(
  raw: Record<string, unknown>,
  allowed: string[],
  path: string,
  problems: Problems,
): void {
  for (const key of Object.keys(raw)) {
    if (!allowed.includes(key)) {
      problems.push({ path: path ? `${path}.${key}` : key, message: `unknown field '${key}'` });
    }
  }
}

/** The object without its undefined-valued keys (normalised definitions omit absent optionals). */
function omitUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
