import { Module } from '@nestjs/common';
import { StreamingModule } from '../streaming/streaming.module';
import { StreamGateway } from './stream.gateway';

/** The WebSocket protocol edge (`/ws/stream`). */
@Module({ imports: [StreamingModule], providers: [StreamGateway] })
export class WsModule {}
