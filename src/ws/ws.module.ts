import { Module } from '@nestjs/common';
import { StreamMultiplexer } from './multiplexer/stream-multiplexer.service';
import { WORKFLOW_FEED } from '../workflow/workflow-feed';
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
