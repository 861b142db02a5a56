import { Module } from '@nestjs/common';
import { AdminTokenGuard } from './admin-token.guard';

/** What every `/admin` controller shares: its guard. */
@Module({ providers: [AdminTokenGuard], exports: [AdminTokenGuard] })
export class AdminModule {}
