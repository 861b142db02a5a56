import {
  MESSAGE_ACCESS,
  MuxErrorCode,
  MuxMessageError,
  parseClientMessage,
  STREAM_KIND_ACCESS,
} from './mux-messages';

const refusal = (text: string) => {
  try {
    parseClientMessage(text);
  } catch (err) {
    if (err instanceof MuxMessageError) return { code: err.code, param: err.param };
    throw err;
  }
  throw new Error(`accepted: ${text}`);
};

describe('parseClientMessage', () => {
  it('reads every client message type', () => {
    expect(parseClientMessage('{"type":"ping"}')).toEqual({ type: 'ping' });
    expect(parseClientMessage('{"type":"subscribe","streams":["completion","agent_status"]}')).toEqual({
      type: 'subscribe',
      streams: ['completion', 'agent_status'],
    });
    expect(parseClientMessage('{"type":"unsubscribe","streams":["workflow"]}')).toEqual({
      type: 'unsubscribe',
      streams: ['workflow'],
    });
    expect(parseClientMessage('{"type":"cancel","id":"c-1"}')).toEqual({ type: 'cancel', id: 'c-1' });
    expect(parseClientMessage('{"type":"subscribe_workflow","workflowId":"wf:9"}')).toEqual({
      type: 'subscribe_workflow',
      workflowId: 'wf:9',
    });
    expect(parseClientMessage('{"type":"unsubscribe_workflow","workflowId":"wf:9"}')).toEqual({
      type: 'unsubscribe_workflow',
      workflowId: 'wf:9',
    });
    expect(
      parseClientMessage('{"type":"subscribe_completion","completionId":"chatcmpl-1a","afterSequence":7}'),
    ).toEqual({ type: 'subscribe_completion', completionId: 'chatcmpl-1a', afterSequence: 7 });
    expect(parseClientMessage('{"type":"subscribe_completion","completionId":"chatcmpl-1a"}')).toEqual({
      type: 'subscribe_completion',
      completionId: 'chatcmpl-1a',
    });
    expect(parseClientMessage('{"type":"unsubscribe_completion","completionId":"chatcmpl-1a"}')).toEqual({
      type: 'unsubscribe_completion',
      completionId: 'chatcmpl-1a',
    });
  });

  it('takes a completion request as every field but type and id', () => {
    expect(
      parseClientMessage('{"type":"completion","id":"a","model":"echo","messages":[],"temperature":1}'),
    ).toEqual({ type: 'completion', id: 'a', request: { model: 'echo', messages: [], temperature: 1 } });
  });

  it("keeps a completion's providerKey out of its request", () => {
    expect(
      parseClientMessage('{"type":"completion","id":"a","model":"echo","providerKey":"openai=sk-1"}'),
    ).toEqual({ type: 'completion', id: 'a', request: { model: 'echo' }, providerKey: 'openai=sk-1' });
  });

  it.each([
    ['not json', MuxErrorCode.InvalidMessage, undefined],
    ['[]', MuxErrorCode.InvalidMessage, undefined],
    ['null', MuxErrorCode.InvalidMessage, undefined],
    ['{}', MuxErrorCode.UnknownType, 'type'],
    ['{"type":7}', MuxErrorCode.UnknownType, 'type'],
    ['{"type":"launch"}', MuxErrorCode.UnknownType, 'type'],
    ['{"type":"subscribe"}', MuxErrorCode.InvalidMessage, 'streams'],
    ['{"type":"subscribe","streams":[]}', MuxErrorCode.InvalidMessage, 'streams'],
    ['{"type":"subscribe","streams":["all"]}', MuxErrorCode.InvalidMessage, 'streams'],
    ['{"type":"completion","model":"echo"}', MuxErrorCode.InvalidMessage, 'id'],
    ['{"type":"completion","id":""}', MuxErrorCode.InvalidMessage, 'id'],
    ['{"type":"completion","id":"has space"}', MuxErrorCode.InvalidMessage, 'id'],
    ['{"type":"completion","id":"a","providerKey":["sk-1"]}', MuxErrorCode.InvalidMessage, 'providerKey'],
    [`{"type":"cancel","id":"${'x'.repeat(129)}"}`, MuxErrorCode.InvalidMessage, 'id'],
    ['{"type":"subscribe_workflow","workflowId":5}', MuxErrorCode.InvalidMessage, 'workflowId'],
    ['{"type":"subscribe_completion"}', MuxErrorCode.InvalidMessage, 'completionId'],
    ['{"type":"subscribe_completion","completionId":"a b"}', MuxErrorCode.InvalidMessage, 'completionId'],
    [
      '{"type":"subscribe_completion","completionId":"c","afterSequence":1.5}',
      MuxErrorCode.InvalidMessage,
      'afterSequence',
    ],
    ['{"type":"unsubscribe_completion","completionId":null}', MuxErrorCode.InvalidMessage, 'completionId'],
  ])('refuses %s with %s', (text, code, param) => {
    expect(refusal(text)).toEqual({ code, param });
  });
});

describe('message access rules', () => {
  it('names what every client message type needs of the token', () => {
    const types = [
      'completion',
      'cancel',
      'subscribe',
      'unsubscribe',
      'subscribe_workflow',
      'unsubscribe_workflow',
      'subscribe_completion',
      'unsubscribe_completion',
      'auth',
      'ping',
    ];
    expect(Object.keys(MESSAGE_ACCESS).sort()).toEqual([...types].sort());
    // Every type the parser accepts has a rule (a new type without one fails here and in tsc).
    for (const type of types) expect(MESSAGE_ACCESS[type as keyof typeof MESSAGE_ACCESS]).toBeDefined();
    expect(MESSAGE_ACCESS.completion).toEqual({ type: 'completion', access: 'write' });
    expect(MESSAGE_ACCESS.subscribe_workflow).toEqual({ type: 'workflow', access: 'read' });
    expect(MESSAGE_ACCESS.subscribe_completion).toEqual({ type: 'completion', access: 'read' });
    expect(STREAM_KIND_ACCESS.agent_status).toBe('agent');
  });

  it('parses an auth message and refuses one without a token', () => {
    expect(parseClientMessage('{"type":"auth","token":"a.b.c"}')).toEqual({ type: 'auth', token: 'a.b.c' });
    expect(() => parseClientMessage('{"type":"auth"}')).toThrow(MuxMessageError);
  });
});
