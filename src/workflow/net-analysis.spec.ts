import { analyzeNet, markablePlaces } from './net-analysis';
import type { WorkflowDefinition } from './workflow-definition';

const LIMITS = { maxStates: 10_000, tokenBound: 8 };

/** A net from terse place specs (`'start:i'` initial, `'done:f'` final) and `id: inputs -> outputs` arcs. */
function net(places: string[], transitions: Record<string, [string[], string[]]>): WorkflowDefinition {
  return {
    id: 'test',
    name: 'test',
    places: places.map((spec) => {
      const [id = '', flag] = spec.split(':');
      return { id, initial: flag === 'i', final: flag === 'f' };
    }),
    transitions: Object.entries(transitions).map(([id, [inputs, outputs]]) => ({
      id,
      inputs,
      outputs,
      action: { type: 'none' },
    })),
  };
}

const pipeline = net(['topic:i', 'draft', 'edited', 'done:f'], {
  research: [['topic'], ['draft']],
  write: [['draft'], ['edited']],
  edit: [['edited'], ['done']],
});

const forkJoin = net(['start:i', 'a', 'b', 'a_done', 'b_done', 'end:f'], {
  fork: [['start'], ['a', 'b']],
  work_a: [['a'], ['a_done']],
  work_b: [['b'], ['b_done']],
  join: [['a_done', 'b_done'], ['end']],
});

describe('markablePlaces', () => {
  it('marks everything reachable in a pipeline', () => {
    expect(markablePlaces(pipeline)).toEqual(new Set(['topic', 'draft', 'edited', 'done']));
  });

  it('needs all inputs of a transition', () => {
    const def = net(['a:i', 'b', 'c', 'd:f'], {
      t1: [['a', 'b'], ['c']],
      t2: [['c'], ['d']],
      t3: [['a'], ['d']],
    });
    expect(markablePlaces(def)).toEqual(new Set(['a', 'd']));
  });

  it('reaches a fixpoint through transitions listed in any order', () => {
    const def = net(['a:i', 'b', 'c', 'd:f'], {
      last: [['c'], ['d']],
      middle: [['b'], ['c']],
      first: [['a'], ['b']],
    });
    expect(markablePlaces(def)).toEqual(new Set(['a', 'b', 'c', 'd']));
  });
});

describe('analyzeNet', () => {
  it('explores a pipeline completely', () => {
    expect(analyzeNet(pipeline, LIMITS)).toEqual({ states: 4, complete: true, bounded: true, deadlocks: [] });
  });

  it('finds a parallel fork/join net deadlock-free', () => {
    // start; a+b; a_done+b, a+b_done; a_done+b_done; end
    expect(analyzeNet(forkJoin, LIMITS)).toEqual({ states: 6, complete: true, bounded: true, deadlocks: [] });
  });

  it('reports a choice whose branch dead-ends, with the firing path', () => {
    const def = net(['draft:i', 'review', 'rejected', 'done:f'], {
      submit: [['draft'], ['review']],
      approve: [['review'], ['done']],
      reject: [['review'], ['rejected']],
    });
    expect(analyzeNet(def, LIMITS)).toEqual({
      states: 4,
      complete: true,
      bounded: true,
      deadlocks: [{ marking: { rejected: 1 }, path: ['submit', 'reject'] }],
    });
  });

  it('reports a deadlocked start with an empty path', () => {
    const def = net(['a:i', 'b', 'c:f'], { t: [['a', 'b'], ['c']] });
    expect(analyzeNet(def, LIMITS).deadlocks).toEqual([{ marking: { a: 1 }, path: [] }]);
  });

  it('finds join deadlocks where one branch consumed a shared token', () => {
    // Both branches need `lock`; after one takes it the join can never fire.
    const def = net(['start:i', 'lock:i', 'x', 'y', 'x_done', 'y_done', 'end:f'], {
      fork: [['start'], ['x', 'y']],
      do_x: [['x', 'lock'], ['x_done']],
      do_y: [['y', 'lock'], ['y_done']],
      join: [['x_done', 'y_done'], ['end']],
    });
    expect(analyzeNet(def, LIMITS)).toEqual({
      states: 4,
      complete: true,
      bounded: true,
      deadlocks: [
        { marking: { y: 1, x_done: 1 }, path: ['fork', 'do_x'] },
        { marking: { x: 1, y_done: 1 }, path: ['fork', 'do_y'] },
      ],
    });
  });

  it('reports at most 3 deadlocks, each with a shortest path', () => {
    const def = net(['s:i', 'd1', 'd2', 'd3', 'd4', 'end:f'], {
      t1: [['s'], ['d1']],
      t2: [['s'], ['d2']],
      t3: [['s'], ['d3']],
      t4: [['s'], ['d4']],
      ok: [['s'], ['end']],
    });
    const analysis = analyzeNet(def, LIMITS);
    expect(analysis.deadlocks).toEqual([
      { marking: { d1: 1 }, path: ['t1'] },
      { marking: { d2: 1 }, path: ['t2'] },
      { marking: { d3: 1 }, path: ['t3'] },
    ]);
    expect(analysis.states).toBe(6);
    expect(analysis.complete).toBe(true);
  });

  it('treats a marking with a final place as terminal even with tokens left', () => {
    const def = net(['s:i', 'side', 'end:f'], { split: [['s'], ['side', 'end']] });
    expect(analyzeNet(def, LIMITS)).toEqual({ states: 2, complete: true, bounded: true, deadlocks: [] });
  });

  it('explores cycles without revisiting markings', () => {
    const def = net(['a:i', 'b', 'end:f'], {
      there: [['a'], ['b']],
      back: [['b'], ['a']],
      finish: [['b'], ['end']],
    });
    expect(analyzeNet(def, LIMITS)).toEqual({ states: 3, complete: true, bounded: true, deadlocks: [] });
  });

  it('flags an unbounded net without exploring past the token bound', () => {
    const def = net(['start:i', 'extra', 'done:f'], {
      grow: [['start'], ['start', 'extra']],
      finish: [['start'], ['done']],
    });
    // start+extra×k for k = 0..8, then done+extra×k for k = 0..8
    expect(analyzeNet(def, LIMITS)).toEqual({ states: 18, complete: false, bounded: false, deadlocks: [] });
    expect(analyzeNet(def, { maxStates: 10_000, tokenBound: 2 })).toEqual({
      states: 6,
      complete: false,
      bounded: false,
      deadlocks: [],
    });
  });

  it('stops after maxStates markings', () => {
    const def = net(['p0:i', 'p1', 'p2', 'p3', 'p4', 'p5:f'], {
      t0: [['p0'], ['p1']],
      t1: [['p1'], ['p2']],
      t2: [['p2'], ['p3']],
      t3: [['p3'], ['p4']],
      t4: [['p4'], ['p5']],
    });
    expect(analyzeNet(def, { maxStates: 3, tokenBound: 8 })).toEqual({
      states: 3,
      complete: false,
      bounded: true,
      deadlocks: [],
    });
    expect(analyzeNet(def, { maxStates: 6, tokenBound: 8 })).toEqual({
      states: 6,
      complete: true,
      bounded: true,
      deadlocks: [],
    });
  });
});
