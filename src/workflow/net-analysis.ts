import type { NetAnalysis, TransitionDefinition, WorkflowDefinition } from './workflow-definition';

/** Limits of the reachability analysis. */
export interface AnalysisOptions {
  /** Stop after seeing more than this many distinct markings. */
  maxStates: number;
  /** A marking with more tokens than this in one place counts as unbounded and is not explored further. */
  tokenBound: number;
}

/** The most deadlocks analyzeNet reports. */
export const MAX_REPORTED_DEADLOCKS = 3;

/**
 * The places that can ever hold a token (ignoring token counts and guards): the initial places, plus the
 * outputs of every transition whose inputs can all be marked.
 */
export function markablePlaces(def: WorkflowDefinition): Set<string> {
  const marked = new Set(def.places.filter((p) => p.initial).map((p) => p.id));
  let changed = true;
  while (changed) {
    changed = false;
    for (const t of def.transitions) {
      if (!t.inputs.every((p) => marked.has(p))) continue;
      for (const p of t.outputs) {
        if (!marked.has(p)) {
          marked.add(p);
          changed = true;
        }
      }
    }
  }
  return marked;
}

/** A transition as place indexes. */
interface IndexedTransition {
  id: string;
  inputs: number[];
  outputs: number[];
}

/** How a marking was first reached (the BFS tree, for shortest firing paths). */
interface Origin {
  previous?: string;
  via?: string;
}

/**
 * Breadth-first reachability analysis of the net, guards ignored: one token in each initial place to start;
 * a transition is enabled when each input holds a token and firing moves one token from each input to each
 * output. Markings with a final place marked are terminal; any other marking where nothing is enabled is a
 * deadlock (the first few are reported, each with a shortest firing path).
 */
export function analyzeNet(def: WorkflowDefinition, options: AnalysisOptions): NetAnalysis {
  const placeIds = def.places.map((p) => p.id);
  const index = new Map(placeIds.map((id, i) => [id, i]));
  const transitions = def.transitions.map((t) => indexTransition(t, index));
  const finals = def.places.flatMap((p, i) => (p.final ? [i] : []));
  const initial = def.places.map((p) => (p.initial ? 1 : 0));

  const result: NetAnalysis = { states: 0, complete: true, bounded: true, deadlocks: [] };
  const origins = new Map<string, Origin>([[keyOf(initial), {}]]);
  const queue: number[][] = [initial];
  for (let head = 0; head < queue.length; head++) {
    const marking = queue[head] as number[];
    const key = keyOf(marking);
    result.states++;
    if (finals.some((i) => (marking[i] ?? 0) > 0)) continue;
    const enabled = transitions.filter((t) => t.inputs.every((i) => (marking[i] ?? 0) > 0));
    if (enabled.length === 0 && result.deadlocks.length < MAX_REPORTED_DEADLOCKS) {
      result.deadlocks.push({ marking: describeMarking(marking, placeIds), path: pathTo(key, origins) });
    }
    for (const t of enabled) {
      const next = fire(marking, t);
      const nextKey = keyOf(next);
      if (origins.has(nextKey)) continue;
      if (next.some((n) => n > options.tokenBound)) {
        result.bounded = false;
        result.complete = false;
        continue;
      }
      origins.set(nextKey, { previous: key, via: t.id });
      if (origins.size > options.maxStates) {
        result.complete = false;
        return result;
      }
      queue.push(next);
    }
  }
  return result;
}

function indexTransition(t: TransitionDefinition, index: Map<string, number>): IndexedTransition {
  const lookup = (ids: string[]) => ids.flatMap((id) => (index.has(id) ? [index.get(id) as number] : []));
  return { id: t.id, inputs: lookup(t.inputs), outputs: lookup(t.outputs) };
}

function fire(marking: number[], t: IndexedTransition): number[] {
  const next = [...marking];
  for (const i of t.inputs) next[i] = (next[i] ?? 0) - 1;
  for (const i of t.outputs) next[i] = (next[i] ?? 0) + 1;
  return next;
}

function keyOf(marking: number[]): string {
  return marking.join(',');
}

function describeMarking(marking: number[], placeIds: string[]): Record<string, number> {
  return Object.fromEntries(
    placeIds.flatMap((id, i) => ((marking[i] ?? 0) > 0 ? [[id, marking[i] ?? 0]] : [])),
  );
}

function pathTo(key: string, origins: Map<string, Origin>): string[] {
  const path: string[] = [];
  for (
    let origin = origins.get(key);
    origin?.via !== undefined;
    origin = origins.get(origin.previous ?? '')
  ) {
    path.push(origin.via);
  }
  return path.reverse();
}
