import { Controller, Get, HttpCode, Param, Post, Query, Req, Res } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { WorkflowRuns } from '../workflow/workflow-runs.service';
import { SseResponder } from './sse/sse-responder.service';
import { afterParam, followAsSse } from './workflow-events.params';
import { EventSourceAuth, Requires } from '../auth/access.decorators';
import { principalOf } from '../auth/auth.guard';
import { AuthService } from '../auth/auth.service';

/** Workflow runs: state (from any node), events as SSE (history first), cancel. */
@Controller('v1/workflow-runs')
export class WorkflowRunsController {
  constructor(
    readonly runs: WorkflowRuns,
    readonly sse: SseResponder,
    readonly auth: AuthService,
  ) {}

  @Get(':runId')
  @Requires('workflow', 'read')
  async get(@Param('runId') runId: string, @Req() request: FastifyRequest): Promise<Record<string, unknown>> {
    return { object: 'workflow.run', ...(await this.runs.get(runId, principalOf(request))) };
  }

  /** The run's events from the first (or after `after` / Last-Event-ID), then live, to its last. */
  @Get(':runId/events')
  @Requires('workflow', 'read')
  @EventSourceAuth()
  async events(
    @Param('runId') runId: string,
    @Query('after') after: string | undefined,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const viewer = principalOf(request);
    const from = afterParam(request, after);
    if (from.after !== undefined && (await this.runs.endedBy(runId, from.after, viewer))) {
      // An EventSource reconnecting after the run's last event: 204 tells it to stop.
      await reply.status(204).send();
      return;
    }
    await followAsSse(this, runId, from, request, reply, false);
  }

  @Post(':runId/cancel')
  @HttpCode(200)
  @Requires('workflow', 'write')
  async cancel(
    @Param('runId') runId: string,
    @Req() request: FastifyRequest,
  ): Promise<Record<string, unknown>> {
    const { cancelled, run } = await this.runs.cancel(runId, principalOf(request));
    return { object: 'workflow.run', cancelled, ...run };
  }
}
