import { Module } from '@nestjs/common';
import { EventsModule } from '../events/events.module';
import { SystemModule } from '../system/system.module';
import { RoutingModule } from '../routing/routing.module';
import { StreamingModule } from '../streaming/streaming.module';
import { WorkflowRuns } from './workflow-runs.service';
import { WorkflowStore } from './workflow-store.service';

/** Petri-net workflows: definitions (WorkflowStore) and runs (WorkflowRuns), for every protocol edge. */
@Module({
  imports: [StreamingModule, EventsModule, SystemModule, RoutingModule],
  providers: [WorkflowStore, WorkflowRuns],
  exports: [WorkflowStore, WorkflowRuns],
})
export class WorkflowModule {}
