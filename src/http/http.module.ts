import { Module } from '@nestjs/common';
import { ProvidersModule } from '../providers/providers.module';
import { RoutingModule } from '../routing/routing.module';
import { StreamingModule } from '../streaming/streaming.module';
import { ChatCompletionsController } from './chat-completions.controller';
import { ModelsController } from './models.controller';
import { SseResponder } from './sse/sse-responder.service';
import { WorkflowModule } from '../workflow/workflow.module';
import { WorkflowRunsController } from './workflow-runs.controller';
import { WorkflowsController } from './workflows.controller';

/** The REST/SSE protocol edge. */
@Module({
  imports: [StreamingModule, ProvidersModule, RoutingModule, WorkflowModule],
  controllers: [ChatCompletionsController, ModelsController, WorkflowsController, WorkflowRunsController],
  providers: [SseResponder],
})
export class HttpModule {}
