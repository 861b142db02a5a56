import { Controller, Get, HttpCode, Param, Post, Query, Req, Res } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { WorkflowRuns } from '../workflow/workflow-runs.service';
import { workflowSseFrame } from '../workflow/workflow-views';
import { SseResponder } from './sse/sse-responder.service';
import { afterParam, slowReader } from './workflow-events.params';

/** Workflow runs: state (from any node), events as SSE (history first), cancel. */
@Controller('v1/workflow-runs')
export class WorkflowRunsController {
  constructor(
    private readonly runs: WorkflowRuns,
    private readonly sse: SseResponder,
  ) {}

  @Get(':runId')
  async get(@Param('runId') runId: string): Promise<Record<string, unknown>> {
    return { object: 'workflow.run', ...(await this.runs.get(runId)) };
  }

  /** The run's events from the first (or after `after` / Last-Event-ID), then live, to its last. */
  @Get(':runId/events')
  async events(
    @Param('runId') runId: string,
    @Query('after') after: string | undefined,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const from = afterParam(request, after);
    if (from.after !== undefined && (await this.runs.endedBy(runId, from.after))) {
      // An EventSource reconnecting after the run's last event: 204 tells it to stop.
      await reply.status(204).send();
      return;
    }
    const events = await this.runs.follow(runId, { ...from, overflow: slowReader });
    await this.sse.events(events, workflowSseFrame, request, reply, { endless: false });
  }

  @Post(':runId/cancel')
  @HttpCode(200)
  async cancel(@Param('runId') runId: string): Promise<Record<string, unknown>> {
    const { cancelled, run } = await this.runs.cancel(runId);
    return { object: 'workflow.run', cancelled, ...run };
  }
}
