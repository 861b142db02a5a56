import { Module } from '@nestjs/common';
import { RoutingModule } from '../routing/routing.module';
import { ActiveStreams } from './active-streams.service';
import { CompletionService } from './completion.service';
import { DrainService } from './drain.service';

@Module({
  imports: [RoutingModule],
  providers: [CompletionService, ActiveStreams, DrainService],
  exports: [CompletionService, ActiveStreams],
})
export class StreamingModule {}
