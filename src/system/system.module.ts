import { Module } from '@nestjs/common';
import { DeadLetterModule } from '../dead-letter/dead-letter.module';
import { EventsModule } from '../events/events.module';
import { RoutingModule } from '../routing/routing.module';
import { SystemEvents } from './system-events.service';

/** Operational events (provider health, circuits, dead letters, nodes) published on the event bus. */
@Module({
  imports: [EventsModule, RoutingModule, DeadLetterModule],
  providers: [SystemEvents],
  exports: [SystemEvents],
})
export class SystemModule {}
