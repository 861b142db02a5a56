import { Module } from '@nestjs/common';
import { DeadLetterService } from '../dead-letter/dead-letter.service';
import { RoutingModule } from '../routing/routing.module';
import { ActiveStreams } from './active-streams.service';
import { CompletionService } from './completion.service';
import { DrainService } from './drain.service';

@Module({
  imports: [RoutingModule],
  providers: [CompletionService, ActiveStreams, DrainService, DeadLetterService],
  exports: [CompletionService, ActiveStreams],
})
export class StreamingModule {}
