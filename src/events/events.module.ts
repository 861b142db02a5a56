import { Module } from '@nestjs/common';
import { DeadLetterModule } from '../dead-letter/dead-letter.module';
import { RoutingModule } from '../routing/routing.module';
import { EventBus } from './event-bus.service';
import { SystemEvents } from './system-events.service';

/** The Redis-backed event bus and the system events published on it. */
@Module({
  imports: [RoutingModule, DeadLetterModule],
  providers: [EventBus, SystemEvents],
  exports: [EventBus, SystemEvents],
})
export class EventsModule {}
