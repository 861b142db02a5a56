import type { RunError } from './workflow-run';

/** A step that failed: ends the run with this error. */
export class StepError extends Error {
  constructor(readonly error: RunError) {
    super(error.message);
  }
}
