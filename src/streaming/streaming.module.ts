import { Module } from '@nestjs/common';
import { DeadLetterModule } from '../dead-letter/dead-letter.module';
import { RoutingModule } from '../routing/routing.module';
import { ActiveStreams } from './active-streams.service';
import { CompletionService } from './completion.service';
import { DrainService } from './drain.service';
import { StreamMultiplexer } from './multiplexer/stream-multiplexer.service';

@Module({
  imports: [RoutingModule, DeadLetterModule],
  providers: [CompletionService, ActiveStreams, DrainService, StreamMultiplexer],
  exports: [CompletionService, ActiveStreams, StreamMultiplexer],
})
export class StreamingModule {}
