import { Module } from '@nestjs/common';
import { ProvidersModule } from '../providers/providers.module';
import { RoutingModule } from '../routing/routing.module';
import { StreamingModule } from '../streaming/streaming.module';
import { ChatCompletionsController } from './chat-completions.controller';
import { ModelsController } from './models.controller';
import { SseResponder } from './sse/sse-responder.service';

/** The REST/SSE protocol edge. */
@Module({
  imports: [StreamingModule, ProvidersModule, RoutingModule],
  controllers: [ChatCompletionsController, ModelsController],
  providers: [SseResponder],
})
export class HttpModule {}
