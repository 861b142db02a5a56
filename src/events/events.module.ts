import { Module } from '@nestjs/common';
import { EventBus } from './event-bus.service';

/** The Redis-backed event bus: numbered, kept topics (replay) and live-only ones. */
@Module({
  providers: [EventBus],
  exports: [EventBus],
})
export class EventsModule {}
