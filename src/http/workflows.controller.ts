import { Body, Controller, Get, HttpCode, Param, Post, Query, Req, Res } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { WorkflowRuns } from '../workflow/workflow-runs.service';
import { WorkflowStore } from '../workflow/workflow-store.service';
import { workflowEventView, workflowView } from '../workflow/workflow-views';
import { SseResponder } from './sse/sse-responder.service';
import { afterParam, slowReader } from './workflow-events.params';

/** Workflow definitions: create, read, list, start runs, and follow every run of one (SSE). */
@Controller('v1/workflows')
export class WorkflowsController {
  constructor(
    private readonly store: WorkflowStore,
    private readonly runs: WorkflowRuns,
    private readonly sse: SseResponder,
  ) {}

  @Post()
  @HttpCode(201)
  async create(@Body() body: unknown): Promise<Record<string, unknown>> {
    return workflowView(await this.store.create(body));
  }

  @Get()
  async list(): Promise<Record<string, unknown>> {
    return { object: 'list', data: (await this.store.list()).map(workflowView) };
  }

  @Get(':id')
  async get(@Param('id') id: string): Promise<Record<string, unknown>> {
    return workflowView(await this.store.get(id));
  }

  @Post(':id/runs')
  @HttpCode(201)
  async start(
    @Param('id') id: string,
    @Body() body: unknown,
    @Req() request: FastifyRequest,
  ): Promise<Record<string, unknown>> {
    const input = isRecord(body) ? body.input : body;
    return { object: 'workflow.run', ...(await this.runs.start(id, input, { requestId: request.id })) };
  }

  /** Every run of this definition from now on (or after `after` / Last-Event-ID), as SSE. */
  @Get(':id/events')
  async events(
    @Param('id') id: string,
    @Query('after') after: string | undefined,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const from = afterParam(request, after);
    const events = await this.runs.follow(id, { ...from, overflow: slowReader });
    const frame = (e: Parameters<typeof workflowEventView>[0]) => ({
      event: e.event.type.toUpperCase(),
      data: workflowEventView(e),
    });
    await this.sse.events(events, frame, request, reply);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
