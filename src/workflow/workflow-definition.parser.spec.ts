import { AddressAllowList } from '../common/net/address-allow-list';
import { deadlockMessage, parseWorkflowDefinition, type ParseOptions } from './workflow-definition.parser';
import type { DefinitionProblem, WorkflowDefinition } from './workflow-definition';
import { WorkflowDefinitionError } from './workflow.error';

const MODELS = new Set(['gpt-4o', 'fast']);
const OPTIONS: ParseOptions = { knownModel: (id) => MODELS.has(id), defaultWebhookTimeoutMs: 15_000 };

/** researcher → writer → editor, a JSON check, then publish (approved) or revise (back to notes). */
function blogPost(): Record<string, unknown> {
  return {
    id: 'blog-post',
    name: 'Blog post',
    description: 'Research, write and edit a post',
    timeout: '10m',
    max_steps: 20,
    places: [
      { id: 'topic', initial: true, description: 'The subject' },
      { id: 'notes' },
      { id: 'draft' },
      { id: 'reviewed' },
      { id: 'checked' },
      { id: 'published', final: true },
    ],
    transitions: [
      {
        id: 'researcher',
        inputs: ['topic'],
        outputs: ['notes'],
        action: {
          type: 'agent',
          model: 'gpt-4o',
          system: 'You are a researcher.',
          prompt: 'Research {{ topic }}',
        },
      },
      {
        id: 'writer',
        description: 'Drafts the post',
        inputs: ['notes'],
        outputs: ['draft'],
        action: {
          type: 'agent',
          agent: 'writer-bot',
          model: 'fast',
          prompt: 'Write about {{topic}} using {{researcher}}',
          output: 'draft',
          max_tokens: 2000,
          temperature: 0.7,
        },
      },
      {
        id: 'editor',
        inputs: ['draft'],
        outputs: ['reviewed'],
        action: { type: 'agent', model: 'gpt-4o', prompt: 'Review {{draft}} as JSON', output: 'review' },
      },
      {
        id: 'parse',
        inputs: ['reviewed'],
        outputs: ['checked'],
        action: { type: 'function', function: 'parse_json', args: { field: 'review' } },
      },
      {
        id: 'publish',
        inputs: ['checked'],
        outputs: ['published'],
        guard: { field: 'review.verdict', op: 'eq', value: 'approve' },
        action: { type: 'webhook', url: 'https://hooks.example.com/publish', headers: { 'X-Token': 'abc' } },
      },
      {
        id: 'revise',
        inputs: ['checked'],
        outputs: ['notes'],
        guard: { not: { field: 'review.verdict', op: 'eq', value: 'approve' } },
        action: { type: 'function', function: 'set', args: { values: { revision: true } } },
      },
    ],
  };
}

const EXPECTED: WorkflowDefinition = {
  id: 'blog-post',
  name: 'Blog post',
  description: 'Research, write and edit a post',
  timeoutMs: 600_000,
  maxSteps: 20,
  places: [
    { id: 'topic', description: 'The subject', initial: true, final: false },
    { id: 'notes', initial: false, final: false },
    { id: 'draft', initial: false, final: false },
    { id: 'reviewed', initial: false, final: false },
    { id: 'checked', initial: false, final: false },
    { id: 'published', initial: false, final: true },
  ],
  transitions: [
    {
      id: 'researcher',
      inputs: ['topic'],
      outputs: ['notes'],
      action: {
        type: 'agent',
        agent: 'researcher',
        model: 'gpt-4o',
        system: 'You are a researcher.',
        prompt: 'Research {{ topic }}',
        output: 'researcher',
      },
    },
    {
      id: 'writer',
      description: 'Drafts the post',
      inputs: ['notes'],
      outputs: ['draft'],
      action: {
        type: 'agent',
        agent: 'writer-bot',
        model: 'fast',
        prompt: 'Write about {{topic}} using {{researcher}}',
        output: 'draft',
        max_tokens: 2000,
        temperature: 0.7,
      },
    },
    {
      id: 'editor',
      inputs: ['draft'],
      outputs: ['reviewed'],
      action: {
        type: 'agent',
        agent: 'editor',
        model: 'gpt-4o',
        prompt: 'Review {{draft}} as JSON',
        output: 'review',
      },
    },
    {
      id: 'parse',
      inputs: ['reviewed'],
      outputs: ['checked'],
      action: { type: 'function', function: 'parse_json', args: { field: 'review' } },
    },
    {
      id: 'publish',
      inputs: ['checked'],
      outputs: ['published'],
      guard: { field: 'review.verdict', op: 'eq', value: 'approve' },
      action: {
        type: 'webhook',
        url: 'https://hooks.example.com/publish',
        method: 'POST',
        headers: { 'X-Token': 'abc' },
        timeoutMs: 15_000,
      },
    },
    {
      id: 'revise',
      inputs: ['checked'],
      outputs: ['notes'],
      guard: { not: { field: 'review.verdict', op: 'eq', value: 'approve' } },
      action: { type: 'function', function: 'set', args: { values: { revision: true } } },
    },
  ],
};

type Raw = ReturnType<typeof blogPost> & { places: Array<Record<string, unknown>> } & {
  transitions: Array<Record<string, unknown> & { action: Record<string, unknown> }>;
};

/** The blog-post net after a change. */
function changed(change: (raw: Raw) => void): Raw {
  const raw = blogPost() as Raw;
  change(raw);
  return raw;
}

function transition(raw: Raw, index: number) {
  const t = raw.transitions[index];
  if (!t) throw new Error(`no transition ${index}`);
  return t;
}

function place(raw: Raw, index: number) {
  const p = raw.places[index];
  if (!p) throw new Error(`no place ${index}`);
  return p;
}

/** The problems parsing reports (fails the test when it does not throw a WorkflowDefinitionError). */
function problemsOf(raw: unknown, options: ParseOptions = OPTIONS): DefinitionProblem[] {
  try {
    parseWorkflowDefinition(raw, options);
  } catch (error) {
    if (error instanceof WorkflowDefinitionError) return error.problems;
    throw error;
  }
  throw new Error('expected the definition to be refused');
}

const ID_MESSAGE = 'must be 1 to 64 of the characters A-Z a-z 0-9 _ . -';
const KEY_MESSAGE = 'must be a data key matching ^[A-Za-z_][A-Za-z0-9_-]{0,63}$';

describe('parseWorkflowDefinition', () => {
  it('normalises a valid researcher → writer → editor net', () => {
    const { definition, analysis } = parseWorkflowDefinition(blogPost(), OPTIONS);
    expect(definition).toEqual(EXPECTED);
    expect(analysis).toEqual({ states: 6, complete: true, bounded: true, deadlocks: [] });
  });

  it('omits absent optional keys rather than setting them to undefined', () => {
    const { definition } = parseWorkflowDefinition(blogPost(), OPTIONS);
    expect(Object.keys(definition.places[1] ?? {})).toEqual(['id', 'initial', 'final']);
    expect(Object.keys(definition.transitions[0] ?? {})).toEqual(['id', 'inputs', 'outputs', 'action']);
    expect(Object.keys(definition.transitions[4]?.action ?? {})).toEqual([
      'type',
      'url',
      'method',
      'headers',
      'timeoutMs',
    ]);
  });

  it('fills in the defaults of a minimal net', () => {
    const raw = {
      id: 'mini',
      places: [
        { id: 'in', initial: true },
        { id: 'out', final: true },
      ],
      transitions: [{ id: 'go', inputs: ['in'], outputs: ['out'] }],
    };
    expect(parseWorkflowDefinition(raw, OPTIONS).definition).toEqual({
      id: 'mini',
      name: 'mini',
      places: [
        { id: 'in', initial: true, final: false },
        { id: 'out', initial: false, final: true },
      ],
      transitions: [{ id: 'go', inputs: ['in'], outputs: ['out'], action: { type: 'none' } }],
    });
  });

  it('normalises explicit none actions, function args and webhook options', () => {
    const raw = changed((r) => {
      transition(r, 0).action = { type: 'none' };
      transition(r, 3).action = { type: 'function', function: 'pick', args: { keys: ['review'] } };
      transition(r, 4).action = {
        type: 'webhook',
        url: 'http://localhost:8080/hook',
        method: 'PUT',
        timeout: '2s',
        response: { fields: { published_at: 'result.at', id: 'id' } },
      };
      transition(r, 5).action = { type: 'function', function: 'set', args: { values: {} } };
    });
    const { definition } = parseWorkflowDefinition(raw, OPTIONS);
    expect(definition.transitions.map((t) => t.action)).toEqual([
      { type: 'none' },
      EXPECTED.transitions[1]?.action,
      EXPECTED.transitions[2]?.action,
      { type: 'function', function: 'pick', args: { keys: ['review'] } },
      {
        type: 'webhook',
        url: 'http://localhost:8080/hook',
        method: 'PUT',
        headers: {},
        timeoutMs: 2_000,
        response: { fields: { published_at: 'result.at', id: 'id' } },
      },
      { type: 'function', function: 'set', args: { values: {} } },
    ]);
  });

  it('defaults function args to {}', () => {
    const raw = changed((r) => {
      transition(r, 5).action = { type: 'function', function: 'set' };
    });
    expect(problemsOf(raw)).toEqual([
      { path: 'transitions[5].action.args.values', message: "'set' needs 'values'" },
    ]);
  });

  it('does not share guards or args with the raw input', () => {
    const raw = blogPost() as Raw;
    const { definition } = parseWorkflowDefinition(raw, OPTIONS);
    (transition(raw, 4).guard as Record<string, unknown>).value = 'changed';
    (transition(raw, 3).action.args as Record<string, unknown>).field = 'changed';
    expect(definition.transitions[4]?.guard).toEqual({ field: 'review.verdict', op: 'eq', value: 'approve' });
    expect(definition.transitions[3]?.action).toEqual({
      type: 'function',
      function: 'parse_json',
      args: { field: 'review' },
    });
  });

  it('asks the catalogue about each model', () => {
    const knownModel = jest.fn((id: string) => MODELS.has(id));
    parseWorkflowDefinition(blogPost(), { ...OPTIONS, knownModel });
    expect(knownModel.mock.calls).toEqual([['gpt-4o'], ['fast'], ['gpt-4o']]);
  });

  describe('field problems', () => {
    it.each<[string, unknown, DefinitionProblem[]]>([
      ['a non-object', 'id: x', [{ path: '', message: 'a workflow definition must be an object' }]],
      ['an array', [], [{ path: '', message: 'a workflow definition must be an object' }]],
      [
        'an empty object',
        {},
        [
          { path: 'id', message: 'required' },
          { path: 'places', message: 'must be a non-empty array' },
          { path: 'transitions', message: 'must be a non-empty array' },
        ],
      ],
    ])('reports %s', (_name, raw, expected) => {
      expect(problemsOf(raw)).toEqual(expected);
    });

    it.each<[string, (raw: Raw) => void, DefinitionProblem[]]>([
      ['a missing id', (r) => delete r.id, [{ path: 'id', message: 'required' }]],
      ['an id with spaces', (r) => (r.id = 'blog post'), [{ path: 'id', message: ID_MESSAGE }]],
      ['a long id', (r) => (r.id = 'x'.repeat(65)), [{ path: 'id', message: ID_MESSAGE }]],
      ['a numeric id', (r) => (r.id = 12), [{ path: 'id', message: ID_MESSAGE }]],
      ['a run_ id', (r) => (r.id = 'run_1'), [{ path: 'id', message: "must not start with 'run_'" }]],
      [
        'an empty name',
        (r) => (r.name = ' '),
        [{ path: 'name', message: 'must be a non-empty string of at most 200 characters' }],
      ],
      [
        'a non-string description',
        (r) => (r.description = 3),
        [{ path: 'description', message: 'must be a non-empty string of at most 2000 characters' }],
      ],
      [
        'an unparsable timeout',
        (r) => (r.timeout = 'soon'),
        [{ path: 'timeout', message: "must be a duration such as '30s', '5m' or '1h'" }],
      ],
      [
        'a zero timeout',
        (r) => (r.timeout = '0s'),
        [{ path: 'timeout', message: 'must be more than 0 and at most 24h' }],
      ],
      [
        'a 25h timeout',
        (r) => (r.timeout = '25h'),
        [{ path: 'timeout', message: 'must be more than 0 and at most 24h' }],
      ],
      [
        'max_steps 0',
        (r) => (r.max_steps = 0),
        [{ path: 'max_steps', message: 'must be an integer from 1 to 10000' }],
      ],
      [
        'max_steps 1.5',
        (r) => (r.max_steps = 1.5),
        [{ path: 'max_steps', message: 'must be an integer from 1 to 10000' }],
      ],
      [
        'max_steps 10001',
        (r) => (r.max_steps = 10_001),
        [{ path: 'max_steps', message: 'must be an integer from 1 to 10000' }],
      ],
      [
        'an unknown root field',
        (r) => (r.timout = '5m'),
        [{ path: 'timout', message: "unknown field 'timout'" }],
      ],
      [
        'an unknown place field',
        (r) => (place(r, 1).inital = true),
        [{ path: 'places[1].inital', message: "unknown field 'inital'" }],
      ],
      [
        'an unknown transition field',
        (r) => (transition(r, 2).input = ['draft']),
        [{ path: 'transitions[2].input', message: "unknown field 'input'" }],
      ],
      [
        'an unknown action field',
        (r) => (transition(r, 1).action.temprature = 1),
        [{ path: 'transitions[1].action.temprature', message: "unknown field 'temprature'" }],
      ],
      [
        'a field of another action type',
        (r) => (transition(r, 4).action.model = 'gpt-4o'),
        [{ path: 'transitions[4].action.model', message: "unknown field 'model'" }],
      ],
      [
        'places not an array',
        (r) => ((r as Record<string, unknown>).places = { topic: {} }),
        [{ path: 'places', message: 'must be a non-empty array' }],
      ],
      [
        'more than 100 places',
        (r) => (r.places = Array.from({ length: 101 }, (_, i) => ({ id: `p${i}` }))),
        [{ path: 'places', message: 'must have at most 100 entries' }],
      ],
      [
        'a place that is not an object',
        (r) => ((r.places as unknown[])[1] = 'notes'),
        [
          { path: 'places[1]', message: 'a place must be an object' },
          { path: 'transitions[0].outputs[0]', message: "unknown place 'notes'" },
          { path: 'transitions[1].inputs[0]', message: "unknown place 'notes'" },
          { path: 'transitions[5].outputs[0]', message: "unknown place 'notes'" },
        ],
      ],
      [
        'a bad place id',
        (r) => (place(r, 3).id = 'has space'),
        [
          { path: 'places[3].id', message: ID_MESSAGE },
          { path: 'transitions[2].outputs[0]', message: "unknown place 'reviewed'" },
          { path: 'transitions[3].inputs[0]', message: "unknown place 'reviewed'" },
        ],
      ],
      [
        'a duplicate place id',
        (r) => r.places.push({ id: 'notes' }),
        [{ path: 'places[6].id', message: "duplicate id 'notes'" }],
      ],
      [
        'no initial place',
        (r) => (place(r, 0).initial = false),
        [{ path: 'places', message: 'no initial place (set initial: true on at least one)' }],
      ],
      [
        'no final place',
        (r) => delete place(r, 5).final,
        [{ path: 'places', message: 'no final place (set final: true on at least one)' }],
      ],
      [
        'a place both initial and final',
        (r) => (place(r, 0).final = true),
        [{ path: 'places[0]', message: "place 'topic' cannot be both initial and final" }],
      ],
      [
        'a non-boolean flag',
        (r) => (place(r, 0).initial = 'yes'),
        [
          { path: 'places[0].initial', message: 'must be true or false' },
          { path: 'places', message: 'no initial place (set initial: true on at least one)' },
        ],
      ],
      [
        'no transitions',
        (r) => (r.transitions = []),
        [{ path: 'transitions', message: 'must be a non-empty array' }],
      ],
      [
        'a transition that is not an object',
        (r) => (r.transitions[2] = null as unknown as Raw['transitions'][number]),
        [{ path: 'transitions[2]', message: 'a transition must be an object' }],
      ],
      [
        'a duplicate transition id',
        (r) => (transition(r, 5).id = 'publish'),
        [{ path: 'transitions[5].id', message: "duplicate id 'publish'" }],
      ],
      [
        'an unknown input place',
        (r) => (transition(r, 1).inputs = ['nowhere']),
        [{ path: 'transitions[1].inputs[0]', message: "unknown place 'nowhere'" }],
      ],
      [
        'an unknown output place',
        (r) => (transition(r, 2).outputs = ['reviewed', 'elsewhere']),
        [{ path: 'transitions[2].outputs[1]', message: "unknown place 'elsewhere'" }],
      ],
      [
        'a repeated place',
        (r) => (transition(r, 2).outputs = ['reviewed', 'reviewed']),
        [{ path: 'transitions[2].outputs[1]', message: "place 'reviewed' is listed twice" }],
      ],
      [
        'a non-string place',
        (r) => (transition(r, 2).inputs = [1]),
        [{ path: 'transitions[2].inputs[0]', message: 'must be a place id' }],
      ],
      [
        'empty inputs',
        (r) => (transition(r, 2).inputs = []),
        [{ path: 'transitions[2].inputs', message: 'must be a non-empty array of place ids' }],
      ],
      [
        'missing outputs',
        (r) => delete transition(r, 2).outputs,
        [{ path: 'transitions[2].outputs', message: 'must be a non-empty array of place ids' }],
      ],
      [
        'an action that is not an object',
        (r) => (transition(r, 0).action = 'agent' as unknown as Record<string, unknown>),
        [{ path: 'transitions[0].action', message: 'an action must be an object' }],
      ],
      [
        'an unknown action type',
        (r) => (transition(r, 0).action.type = 'llm'),
        [
          {
            path: 'transitions[0].action.type',
            message: "unknown action type 'llm' (allowed: none, agent, function, webhook)",
          },
        ],
      ],
      [
        'a missing action type',
        (r) => delete transition(r, 0).action.type,
        [
          {
            path: 'transitions[0].action.type',
            message: 'unknown action type undefined (allowed: none, agent, function, webhook)',
          },
        ],
      ],
      [
        // A JSON object whose toString is not a function: String() of it threw (a 500 the REST fuzz found).
        'an action type that is an object with a toString key',
        (r) => (transition(r, 0).action.type = JSON.parse('{"toString":1}') as string),
        [
          {
            path: 'transitions[0].action.type',
            message: 'unknown action type {"toString":1} (allowed: none, agent, function, webhook)',
          },
        ],
      ],
      [
        'an unknown model',
        (r) => (transition(r, 1).action.model = 'gpt-9'),
        [{ path: 'transitions[1].action.model', message: "unknown model 'gpt-9'" }],
      ],
      [
        'an empty model',
        (r) => (transition(r, 1).action.model = ''),
        [{ path: 'transitions[1].action.model', message: 'must be a non-empty model id' }],
      ],
      [
        'a missing prompt',
        (r) => delete transition(r, 0).action.prompt,
        [{ path: 'transitions[0].action.prompt', message: 'must be a non-empty string' }],
      ],
      [
        'a bad prompt template',
        (r) => (transition(r, 0).action.prompt = 'Research {{topic'),
        [{ path: 'transitions[0].action.prompt', message: "unclosed '{{' at offset 9" }],
      ],
      [
        'a bad system template',
        (r) => (transition(r, 0).action.system = 'You are {{ a role }}'),
        [{ path: 'transitions[0].action.system', message: "invalid placeholder path 'a role' at offset 8" }],
      ],
      [
        'a prompt over 32 KiB',
        (r) => (transition(r, 0).action.prompt = 'é'.repeat(16 * 1024 + 1)),
        [{ path: 'transitions[0].action.prompt', message: 'must be at most 32 KiB' }],
      ],
      [
        'a bad agent name',
        (r) => (transition(r, 1).action.agent = 'writer bot'),
        [{ path: 'transitions[1].action.agent', message: ID_MESSAGE }],
      ],
      [
        'a bad output key',
        (r) => (transition(r, 1).action.output = 'the.draft'),
        [{ path: 'transitions[1].action.output', message: KEY_MESSAGE }],
      ],
      [
        'an invalid default output',
        (r) => (transition(r, 0).id = 'research.v2'),
        [
          {
            path: 'transitions[0].action.output',
            message:
              "the default output 'research.v2' (the agent name) is not a valid data key; set 'output'",
          },
        ],
      ],
      [
        'max_tokens 0',
        (r) => (transition(r, 1).action.max_tokens = 0),
        [{ path: 'transitions[1].action.max_tokens', message: 'must be an integer from 1 to 1000000' }],
      ],
      [
        'temperature 2.5',
        (r) => (transition(r, 1).action.temperature = 2.5),
        [{ path: 'transitions[1].action.temperature', message: 'must be a number from 0 to 2' }],
      ],
      [
        'an unknown function',
        (r) => (transition(r, 3).action.function = 'eval'),
        [
          {
            path: 'transitions[3].action.function',
            message: 'must be one of set, template, pick, omit, rename, join, word_count, parse_json',
          },
        ],
      ],
      [
        'bad function args',
        (r) => (transition(r, 3).action.args = { field: 'review', outptu: 'x' }),
        [{ path: 'transitions[3].action.args.outptu', message: "unknown field 'outptu'" }],
      ],
      [
        'a relative webhook url',
        (r) => (transition(r, 4).action.url = '/publish'),
        [{ path: 'transitions[4].action.url', message: 'must be an absolute http: or https: URL' }],
      ],
      [
        'an ftp webhook url',
        (r) => (transition(r, 4).action.url = 'ftp://example.com/x'),
        [{ path: 'transitions[4].action.url', message: 'must be an absolute http: or https: URL' }],
      ],
      [
        'a missing webhook url',
        (r) => delete transition(r, 4).action.url,
        [{ path: 'transitions[4].action.url', message: 'must be an absolute http: or https: URL' }],
      ],
      [
        'a GET webhook',
        (r) => (transition(r, 4).action.method = 'GET'),
        [{ path: 'transitions[4].action.method', message: 'must be POST or PUT' }],
      ],
      [
        'bad webhook headers',
        (r) => (transition(r, 4).action.headers = { 'Bad Header': 'x', 'X-Num': 1, 'X-Split': 'a\r\nb' }),
        [
          { path: 'transitions[4].action.headers.Bad Header', message: 'invalid header name' },
          { path: 'transitions[4].action.headers.X-Num', message: 'must be a string' },
          { path: 'transitions[4].action.headers.X-Split', message: 'must not contain line breaks' },
        ],
      ],
      [
        'headers that are not an object',
        (r) => (transition(r, 4).action.headers = ['X-Token: abc']),
        [
          {
            path: 'transitions[4].action.headers',
            message: 'must be an object of header names to string values',
          },
        ],
      ],
      [
        'a webhook timeout over 5 minutes',
        (r) => (transition(r, 4).action.timeout = '6m'),
        [{ path: 'transitions[4].action.timeout', message: 'must be more than 0 and at most 5m' }],
      ],
      [
        'a webhook output (answers are no longer merged)',
        (r) => (transition(r, 4).action.output = 'answer'),
        [
          {
            path: 'transitions[4].action.output',
            message:
              "webhook answers are no longer merged; name the fields to keep with response: {fields: {key: 'path.in.answer'}}",
          },
        ],
      ],
      [
        'credentials in a webhook url',
        (r) => (transition(r, 4).action.url = 'https://user:pass@hooks.example.com/x'),
        [
          {
            path: 'transitions[4].action.url',
            message: 'must not carry credentials (user:password@); send them in headers',
          },
        ],
      ],
      [
        'bad webhook response fields',
        (r) => (transition(r, 4).action.response = { fields: { '1st': 'a', ok: 'a..b', x: 3 }, all: true }),
        [
          { path: 'transitions[4].action.response.all', message: "unknown field 'all'" },
          { path: 'transitions[4].action.response.fields.1st', message: KEY_MESSAGE },
          {
            path: 'transitions[4].action.response.fields.ok',
            message: "must be a dotted path in the answer such as 'result.summary'",
          },
          {
            path: 'transitions[4].action.response.fields.x',
            message: "must be a dotted path in the answer such as 'result.summary'",
          },
        ],
      ],
      [
        'empty webhook response fields',
        (r) => (transition(r, 4).action.response = { fields: {} }),
        [
          {
            path: 'transitions[4].action.response.fields',
            message: 'must be an object of 1 to 32 data keys to dotted paths in the answer',
          },
        ],
      ],
      [
        'headers the service sets',
        (r) => (transition(r, 4).action.headers = { Host: 'internal', 'Content-Length': '1' }),
        [
          { path: 'transitions[4].action.headers.Host', message: "'Host' is set by the service" },
          {
            path: 'transitions[4].action.headers.Content-Length',
            message: "'Content-Length' is set by the service",
          },
        ],
      ],
      [
        'a guard with two forms',
        (r) => (transition(r, 4).guard = { field: 'a', op: 'exists', any: [] }),
        [
          {
            path: 'transitions[4].guard',
            message: "a guard needs exactly one of 'all', 'any', 'not' or 'field' (found 'any', 'field')",
          },
        ],
      ],
      [
        'a guard without a value',
        (r) => (transition(r, 4).guard = { field: 'review.verdict', op: 'eq' }),
        [{ path: 'transitions[4].guard.value', message: "'eq' needs a value" }],
      ],
      [
        'a null guard',
        (r) => (transition(r, 4).guard = null),
        [{ path: 'transitions[4].guard', message: 'a guard must be an object' }],
      ],
      [
        'a guard with a bad regex',
        (r) => (transition(r, 5).guard = { not: { field: 'review.verdict', op: 'matches', value: '[a-' } }),
        [
          {
            path: 'transitions[5].guard.not.value',
            message: expect.stringMatching(/^invalid regular expression: /),
          },
        ],
      ],
    ])('reports %s', (_name, change, expected) => {
      expect(problemsOf(changed(change))).toEqual(expected);
    });

    it('reports several problems together, in document order', () => {
      const raw = changed((r) => {
        r.id = 'run_x';
        r.extra = true;
        place(r, 0).final = true;
        transition(r, 0).action.model = 'nope';
        transition(r, 1).inputs = ['ghost'];
        transition(r, 4).action.url = 'mailto:a@b.c';
        transition(r, 4).guard = { all: [] };
        r.max_steps = -1;
      });
      expect(problemsOf(raw)).toEqual([
        { path: 'extra', message: "unknown field 'extra'" },
        { path: 'id', message: "must not start with 'run_'" },
        { path: 'places[0]', message: "place 'topic' cannot be both initial and final" },
        { path: 'transitions[0].action.model', message: "unknown model 'nope'" },
        { path: 'transitions[1].inputs[0]', message: "unknown place 'ghost'" },
        { path: 'transitions[4].guard.all', message: 'must be a non-empty array of guards' },
        { path: 'transitions[4].action.url', message: 'must be an absolute http: or https: URL' },
        { path: 'max_steps', message: 'must be an integer from 1 to 10000' },
      ]);
    });

    it('carries the problems and the first path in the error', () => {
      const raw = changed((r) => (transition(r, 1).action.model = 'gpt-9'));
      expect(() => parseWorkflowDefinition(raw, OPTIONS)).toThrow(
        expect.objectContaining({
          message: "Invalid workflow definition: transitions[1].action.model: unknown model 'gpt-9'",
        }) as Error,
      );
    });
  });

  describe('webhook targets', () => {
    const withUrl = (url: string) => changed((r) => (transition(r, 4).action.url = url));
    const REFUSED = [
      {
        path: 'transitions[4].action.url',
        message:
          'must not point to a loopback, private, link-local, CGNAT, multicast, broadcast or reserved address (an operator can allow one in workflows.webhooks.allow)',
      },
    ];

    it.each([
      'http://127.0.0.1/x',
      'http://127.1/x',
      'http://0x7f000001/x',
      'http://2130706433/x',
      'http://0177.0.0.1/x',
      'http://0.0.0.0/x',
      'http://0/x',
      'http://[::1]/x',
      'http://[::]/x',
      'http://[::ffff:127.0.0.1]/x',
      'http://[::ffff:169.254.169.254]/x',
      'http://[64:ff9b::a9fe:a9fe]/x',
      'http://169.254.169.254/latest/meta-data/',
      'http://10.0.0.1/x',
      'http://172.16.0.1/x',
      'http://192.168.1.1/x',
      'http://100.64.0.1/x',
      'http://224.0.0.1/x',
      'http://255.255.255.255/x',
      'http://[fd00::1]/x',
      'http://[fe80::1]/x',
      'https://127.0.0.1.:8443/x',
    ])('refuses %s with the one message', (url) => {
      expect(problemsOf(withUrl(url))).toEqual(REFUSED);
    });

    it('accepts public literals and hostnames (hostnames are checked after DNS, at call time)', () => {
      for (const url of ['https://8.8.8.8/x', 'https://[2606:4700::1111]/x', 'http://localhost:8080/x']) {
        expect(() => parseWorkflowDefinition(withUrl(url), OPTIONS)).not.toThrow();
      }
    });

    it('accepts what workflows.webhooks.allow lists', () => {
      const allowing = { ...OPTIONS, webhookAllow: new AddressAllowList(['127.0.0.0/8', '::1']) };
      for (const url of [
        'http://127.0.0.1:9/x',
        'http://0x7f.1/x',
        'http://[::1]/x',
        'http://[::ffff:127.0.0.1]/',
      ]) {
        expect(() => parseWorkflowDefinition(withUrl(url), allowing)).not.toThrow();
      }
      expect(problemsOf(withUrl('http://10.0.0.1/x'), allowing)).toEqual(REFUSED);
    });
  });

  describe('structural problems', () => {
    it('reports a transition that can never fire', () => {
      const raw = changed((r) => {
        r.places.push({ id: 'orphan' });
        const stray = { id: 'stray', inputs: ['checked', 'orphan'], outputs: ['published'] };
        r.transitions.push(stray as unknown as Raw['transitions'][number]);
      });
      expect(problemsOf(raw)).toEqual([
        {
          path: 'transitions[6]',
          message: "transition 'stray' can never fire: place 'orphan' can never be marked",
        },
      ]);
    });

    it('reports a final place that can never be reached', () => {
      const raw = changed((r) => r.places.push({ id: 'archived', final: true }));
      expect(problemsOf(raw)).toEqual([
        { path: 'places[6]', message: "final place 'archived' can never be reached" },
      ]);
    });

    it('reports a chain of dead transitions and the unreachable final place together', () => {
      const raw = {
        id: 'dead',
        places: [
          { id: 'a', initial: true },
          { id: 'b' },
          { id: 'c' },
          { id: 'end', final: true },
          { id: 'ok', final: true },
        ],
        transitions: [
          { id: 'first', inputs: ['a', 'b'], outputs: ['c'] },
          { id: 'second', inputs: ['c'], outputs: ['end'] },
          { id: 'fine', inputs: ['a'], outputs: ['ok'] },
        ],
      };
      expect(problemsOf(raw)).toEqual([
        {
          path: 'transitions[0]',
          message: "transition 'first' can never fire: place 'b' can never be marked",
        },
        {
          path: 'transitions[1]',
          message: "transition 'second' can never fire: place 'c' can never be marked",
        },
        { path: 'places[3]', message: "final place 'end' can never be reached" },
      ]);
    });

    it('is skipped while there are field problems', () => {
      const raw = changed((r) => {
        r.places.push({ id: 'archived', final: true });
        r.colour = 'red';
      });
      expect(problemsOf(raw)).toEqual([{ path: 'colour', message: "unknown field 'colour'" }]);
    });
  });

  describe('net analysis', () => {
    it('reports a deadlock with its firing path', () => {
      const raw = changed((r) => {
        r.places.push({ id: 'rejected' });
        r.transitions.push({
          id: 'reject',
          inputs: ['checked'],
          outputs: ['rejected'],
          action: { type: 'none' },
        });
      });
      expect(problemsOf(raw)).toEqual([
        {
          path: '',
          message:
            'the net can deadlock: after firing researcher, writer, editor, parse, reject the marking ' +
            '{rejected: 1} enables no transition and marks no final place',
        },
      ]);
    });

    it('accepts a parallel fork/join net', () => {
      const raw = {
        id: 'fan-out',
        places: [
          { id: 'start', initial: true },
          { id: 'a' },
          { id: 'b' },
          { id: 'a_done' },
          { id: 'b_done' },
          { id: 'end', final: true },
        ],
        transitions: [
          { id: 'fork', inputs: ['start'], outputs: ['a', 'b'] },
          { id: 'left', inputs: ['a'], outputs: ['a_done'] },
          { id: 'right', inputs: ['b'], outputs: ['b_done'] },
          { id: 'join', inputs: ['a_done', 'b_done'], outputs: ['end'] },
        ],
      };
      expect(parseWorkflowDefinition(raw, OPTIONS).analysis).toEqual({
        states: 6,
        complete: true,
        bounded: true,
        deadlocks: [],
      });
    });

    it('reports a join that one branch can starve', () => {
      const raw = {
        id: 'starve',
        places: [
          { id: 'start', initial: true },
          { id: 'a' },
          { id: 'b' },
          { id: 'skip' },
          { id: 'end', final: true },
        ],
        transitions: [
          { id: 'fork', inputs: ['start'], outputs: ['a', 'b'] },
          { id: 'drop', inputs: ['b'], outputs: ['skip'] },
          { id: 'keep', inputs: ['b'], outputs: ['b'] },
          { id: 'join', inputs: ['a', 'b'], outputs: ['end'] },
        ],
      };
      expect(problemsOf(raw)).toEqual([
        {
          path: '',
          message:
            'the net can deadlock: after firing fork, drop the marking {a: 1, skip: 1} enables no transition ' +
            'and marks no final place',
        },
      ]);
    });

    it('accepts an unbounded net, flagging it in the analysis', () => {
      const raw = {
        id: 'grow',
        places: [{ id: 'start', initial: true }, { id: 'extra' }, { id: 'done', final: true }],
        transitions: [
          { id: 'spawn', inputs: ['start'], outputs: ['start', 'extra'] },
          { id: 'finish', inputs: ['start'], outputs: ['done'] },
        ],
      };
      const { analysis } = parseWorkflowDefinition(raw, OPTIONS);
      expect(analysis).toEqual({ states: 18, complete: false, bounded: false, deadlocks: [] });
      expect(parseWorkflowDefinition(raw, { ...OPTIONS, tokenBound: 1 }).analysis).toEqual({
        states: 4,
        complete: false,
        bounded: false,
        deadlocks: [],
      });
    });

    it('passes maxStates to the analysis', () => {
      expect(parseWorkflowDefinition(blogPost(), { ...OPTIONS, maxStates: 2 }).analysis).toEqual({
        states: 2,
        complete: false,
        bounded: true,
        deadlocks: [],
      });
    });
  });
});

describe('deadlockMessage', () => {
  it('describes a deadlock at the start', () => {
    expect(deadlockMessage({ marking: { draft: 1, lock: 2 }, path: [] })).toBe(
      'the net can deadlock: at the start the marking {draft: 1, lock: 2} enables no transition and marks no final place',
    );
  });

  it('describes a deadlock after firings', () => {
    expect(deadlockMessage({ marking: {}, path: ['a', 'b'] })).toBe(
      'the net can deadlock: after firing a, b the marking {} enables no transition and marks no final place',
    );
  });
});
