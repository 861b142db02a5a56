import { Module } from '@nestjs/common';
import { DeadLetterService } from './dead-letter.service';

/**
 * Dead-letter storage (BullMQ queue, local spool while Redis is away). It imports nothing of streaming, so
 * the completion path can import it; the admin API and replays live in the admin edge (AdminModule).
 */
@Module({ providers: [DeadLetterService], exports: [DeadLetterService] })
export class DeadLetterModule {}
