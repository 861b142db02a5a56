import { DomainError, RequestErrorCode } from '../contract/error-code';
import type { DefinitionProblem } from './workflow-definition';

/** Errors of the workflow module (lookups, refusals); the protocol edges map their codes. */
export class WorkflowError extends DomainError {}

/** A definition that failed validation: every problem found, each with its JSON path. */
export class WorkflowDefinitionError extends WorkflowError {
  constructor(readonly problems: DefinitionProblem[]) {
    super(
      RequestErrorCode.InvalidWorkflow,
      `Invalid workflow definition: ${problems
        .slice(0, 20)
        .map((p) => (p.path ? `${p.path}: ${p.message}` : p.message))
        .join('; ')}${problems.length > 20 ? `; and ${problems.length - 20} more` : ''}`,
      problems[0]?.path ? { param: problems[0].path } : {},
    );
  }
}
