import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { AdminOnly } from '../auth/access.decorators';
import { CompletionError, RequestErrorCode } from '../contract/error-code';
import type { DeadLetter } from '../dead-letter/dead-letter';
import type { DeadLetterPage } from '../dead-letter/dead-letter-query';
import { type BatchReplay, DeadLetterReplayService, type ReplayResult } from './dead-letter-replay.service';
import { DeadLetterService } from '../dead-letter/dead-letter.service';
import { parseBatchReplay, parseListQuery } from './dead-letters.dto';

/** The dead-letter admin API: list, inspect, replay (one, waiting; or many, queued) and delete. */
@Controller('admin/dead-letters')
@AdminOnly()
export class DeadLettersController {
  constructor(
    private readonly deadLetters: DeadLetterService,
    private readonly replays: DeadLetterReplayService,
  ) {}

  @Get()
  list(@Query() query: unknown): Promise<DeadLetterPage> {
    return this.deadLetters.list(parseListQuery(query));
  }

  /** Queues replays of the letters the criteria select; the outcomes appear on each letter. */
  @Post('replay')
  @HttpCode(202)
  async replayMatching(@Body() body: unknown): Promise<{ data: BatchReplay }> {
    const { criteria, limit } = parseBatchReplay(body);
    return { data: await this.replays.replayMatching(criteria, limit) };
  }

  @Get(':id')
  async get(@Param('id') id: string): Promise<{ data: DeadLetter }> {
    const letter = await this.deadLetters.get(id);
    if (!letter) throw notFound(id);
    return { data: letter };
  }

  /** Replays one letter and answers with the outcome (an earlier success is returned, not run again). */
  @Post(':id/replay')
  @HttpCode(200)
  async replay(@Param('id') id: string): Promise<{ data: ReplayResult }> {
    return { data: await this.replays.replay(id) };
  }

  @Delete(':id')
  @HttpCode(204)
  async delete(@Param('id') id: string): Promise<void> {
    if (!(await this.deadLetters.delete(id))) throw notFound(id);
  }
}

function notFound(id: string): CompletionError {
  return new CompletionError(RequestErrorCode.NotFound, `No dead letter with id ${id}.`, { param: 'id' });
}
