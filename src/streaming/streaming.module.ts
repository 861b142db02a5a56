import { Module } from '@nestjs/common';
import { DeadLetterModule } from '../dead-letter/dead-letter.module';
import { EventsModule } from '../events/events.module';
import { ProvidersModule } from '../providers/providers.module';
import { RoutingModule } from '../routing/routing.module';
import { ActiveStreams } from './active-streams.service';
import { CompletionService } from './completion.service';
import { DrainService } from './drain.service';
import { StreamHub } from './hub/stream-hub.service';

@Module({
  imports: [RoutingModule, ProvidersModule, DeadLetterModule, EventsModule],
  providers: [CompletionService, ActiveStreams, DrainService, StreamHub],
  exports: [CompletionService, ActiveStreams, DrainService, StreamHub],
})
export class StreamingModule {}
