import { Module } from '@nestjs/common';
import { StreamMultiplexer, WORKFLOW_FEED } from '../streaming/multiplexer/stream-multiplexer.service';
import { StreamingModule } from '../streaming/streaming.module';
import { WorkflowModule } from '../workflow/workflow.module';
import { WorkflowRuns } from '../workflow/workflow-runs.service';
import { StreamGateway } from './stream.gateway';

/** The WebSocket protocol edge (`/ws/stream`): completions and workflow events on one socket. */
@Module({
  imports: [StreamingModule, WorkflowModule],
  providers: [StreamGateway, StreamMultiplexer, { provide: WORKFLOW_FEED, useExisting: WorkflowRuns }],
})
export class WsModule {}
