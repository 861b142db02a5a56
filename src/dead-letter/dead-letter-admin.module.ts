import { Module } from '@nestjs/common';
import { StreamingModule } from '../streaming/streaming.module';
import { DeadLetterReplayService } from './dead-letter-replay.service';
import { DeadLetterModule } from './dead-letter.module';
import { DeadLettersController } from './dead-letters.controller';

/** `/admin/dead-letters` and the replay worker. Separate from DeadLetterModule, which streaming imports. */
@Module({
  imports: [DeadLetterModule, StreamingModule],
  controllers: [DeadLettersController],
  providers: [DeadLetterReplayService],
})
export class DeadLetterAdminModule {}
