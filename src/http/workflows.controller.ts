import { Body, Controller, Get, HttpCode, Param, Post, Query, Req, Res } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { CompletionError, RequestErrorCode } from '../contract/error-code';
import { WorkflowRuns } from '../workflow/workflow-runs.service';
import { WorkflowStore } from '../workflow/workflow-store.service';
import { workflowView } from '../workflow/workflow-views';
import { SseResponder } from './sse/sse-responder.service';
import { afterParam, followAsSse } from './workflow-events.params';
import { EventSourceAuth, Requires } from '../auth/access.decorators';
import { principalOf } from '../auth/auth.guard';
import { AuthService } from '../auth/auth.service';

/** Workflow definitions: create, read, list, start runs, and follow every run of one (SSE). */
@Controller('v1/workflows')
export class WorkflowsController {
  constructor(
    private readonly store: WorkflowStore,
    readonly runs: WorkflowRuns,
    readonly sse: SseResponder,
    readonly auth: AuthService,
  ) {}

  @Post()
  @HttpCode(201)
  @Requires('workflow', 'write')
  async create(@Body() body: unknown): Promise<Record<string, unknown>> {
    return workflowView(await this.store.create(body));
  }

  @Get()
  @Requires('workflow', 'read')
  async list(): Promise<Record<string, unknown>> {
    return { object: 'list', data: (await this.store.list()).map(workflowView) };
  }

  @Get(':id')
  @Requires('workflow', 'read')
  async get(@Param('id') id: string): Promise<Record<string, unknown>> {
    return workflowView(await this.store.get(id));
  }

  @Post(':id/runs')
  @HttpCode(201)
  @Requires('workflow', 'write')
  async start(
    @Param('id') id: string,
    @Body() body: unknown,
    @Req() request: FastifyRequest,
  ): Promise<Record<string, unknown>> {
    const input = runInput(body);
    const run = await this.runs.start(id, input, { requestId: request.id, principal: principalOf(request) });
    return { object: 'workflow.run', ...run };
  }

  /** Every run of this definition from now on (or after `after` / Last-Event-ID), as SSE. */
  @Get(':id/events')
  @Requires('workflow', 'read')
  @EventSourceAuth()
  async events(
    @Param('id') id: string,
    @Query('after') after: string | undefined,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    await followAsSse(this, id, afterParam(request, after), request, reply, true);
  }
}

/** A run's input from the body `{"input": {...}}` (the body may be empty); anything else is refused. */
function runInput(body: unknown): unknown {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'object' && !Array.isArray(body)) {
    const extra = Object.keys(body).find((key) => key !== 'input');
    if (extra === undefined) return (body as { input?: unknown }).input;
    throw new CompletionError(
      RequestErrorCode.InvalidRequest,
      `Unknown field '${extra.slice(0, 64)}': the body is {"input": {...}}.`,
      { param: extra.slice(0, 64) },
    );
  }
  throw new CompletionError(RequestErrorCode.InvalidRequest, 'The body must be {"input": {...}}.');
}
