import { matcher, SEVERITIES, type Severity, type SystemEvent } from './system-event';

const event = (over: Partial<SystemEvent> = {}): SystemEvent => ({
  type: 'provider_health',
  severity: 'info',
  message: 'm',
  node: 'node-1',
  ...over,
});

const all: SystemEvent[] = [
  event({ type: 'provider_health', severity: 'error', provider: 'openai' }),
  event({ type: 'provider_health', severity: 'info', provider: 'anthropic' }),
  event({ type: 'circuit_state_changed', severity: 'warning', provider: 'openai', model: 'gpt' }),
  event({ type: 'dead_letter', severity: 'warning', provider: 'anthropic' }),
  event({ type: 'node_started', severity: 'info' }),
  event({ type: 'node_stopping', severity: 'critical' }),
];
const indexes = (predicate: (e: SystemEvent) => boolean) => all.flatMap((e, i) => (predicate(e) ? [i] : []));

describe('system event matcher', () => {
  it('matches everything with an empty match or empty lists', () => {
    expect(indexes(matcher({}))).toEqual([0, 1, 2, 3, 4, 5]);
    expect(indexes(matcher({ types: [], severities: [], providers: [] }))).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('matches by types', () => {
    expect(indexes(matcher({ types: ['provider_health'] }))).toEqual([0, 1]);
    expect(indexes(matcher({ types: ['dead_letter', 'node_stopping'] }))).toEqual([3, 5]);
  });

  it('matches by severities, exactly', () => {
    expect(indexes(matcher({ severities: ['warning'] }))).toEqual([2, 3]);
    expect(indexes(matcher({ severities: ['info', 'critical'] }))).toEqual([1, 4, 5]);
  });

  it('minSeverity keeps that severity and the ones above it, in the order info < warning < error < critical', () => {
    expect(SEVERITIES).toEqual(['info', 'warning', 'error', 'critical']);
    expect(indexes(matcher({ minSeverity: 'info' }))).toEqual([0, 1, 2, 3, 4, 5]);
    expect(indexes(matcher({ minSeverity: 'warning' }))).toEqual([0, 2, 3, 5]);
    expect(indexes(matcher({ minSeverity: 'error' }))).toEqual([0, 5]);
    expect(indexes(matcher({ minSeverity: 'critical' }))).toEqual([5]);
    const kept = (min: Severity) =>
      SEVERITIES.filter((s) => matcher({ minSeverity: min })(event({ severity: s })));
    expect(kept('warning')).toEqual(['warning', 'error', 'critical']);
  });

  it('matches by providers; events without a provider do not match a provider list', () => {
    expect(indexes(matcher({ providers: ['openai'] }))).toEqual([0, 2]);
    expect(indexes(matcher({ providers: ['anthropic', 'openai'] }))).toEqual([0, 1, 2, 3]);
    expect(indexes(matcher({ providers: ['nobody'] }))).toEqual([]);
  });

  it('ANDs the given fields', () => {
    expect(indexes(matcher({ types: ['provider_health'], providers: ['openai'] }))).toEqual([0]);
    expect(indexes(matcher({ severities: ['warning'], providers: ['anthropic'] }))).toEqual([3]);
    expect(indexes(matcher({ minSeverity: 'warning', types: ['provider_health', 'node_started'] }))).toEqual([
      0,
    ]);
    // Contradictory fields match nothing.
    expect(indexes(matcher({ severities: ['info'], minSeverity: 'error' }))).toEqual([]);
    expect(
      indexes(
        matcher({
          types: ['circuit_state_changed', 'dead_letter'],
          severities: ['warning'],
          minSeverity: 'warning',
          providers: ['openai'],
        }),
      ),
    ).toEqual([2]);
  });
});
