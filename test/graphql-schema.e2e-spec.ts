import { readFileSync } from 'node:fs';
import { printAppSchema, SCHEMA_FILE } from '../src/graphql/schema-file';
import { startApp, type TestApp } from './support/app';

describe('schema.graphql', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startApp();
  });
  afterAll(() => t.close());

  it('is what the code-first resolvers build (run `npm run schema` after changing them)', () => {
    expect(readFileSync(SCHEMA_FILE, 'utf8')).toBe(printAppSchema(t.app));
  });

  it('has the types, fields and enum values the API promises', () => {
    const sdl = printAppSchema(t.app);
    for (const line of [
      'completionStream(afterSequence: Int, completionId: ID!): CompletionStreamEvent!',
      'workflowStream(afterSequence: Int, workflowId: ID!): WorkflowStreamEvent!',
      'agentExecutionStream(afterSequence: Int, executionId: ID!): AgentStreamEvent!',
      'systemEvents(filter: EventFilter): SystemEvent!',
      'createCompletion(input: CompletionInput!): CompletionHandle!',
      'completion(completionId: ID!): CompletionResult!',
    ]) {
      expect(sdl).toContain(line);
    }
    expect(sdl).toMatch(
      /enum CompletionEventType \{\s+COMPLETED\s+CONTENT_CHUNK\s+ERROR\s+THINKING\s+TOOL_CALL\s+TOOL_RESULT\s+\}/,
    );
    expect(sdl).toMatch(
      /enum WorkflowEventType \{\s+AGENT_COMPLETED\s+AGENT_PROGRESS\s+AGENT_STARTED\s+ERROR\s+FUNCTION_EXECUTED\s+TOKEN_CREATED\s+TOKEN_TRANSITIONED\s+WORKFLOW_COMPLETED\s+\}/,
    );
    expect(sdl).toMatch(
      /type Usage \{[^}]*completionTokens: Int![^}]*promptTokens: Int![^}]*totalTokens: Int!\s+\}/,
    );
    expect(sdl).toMatch(
      /type CompletionStreamEvent \{[^}]*content: String[^}]*metadata: JSON[^}]*timestamp: DateTime!/,
    );
  });
});
