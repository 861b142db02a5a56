import { Global, Module } from '@nestjs/common';
import { SanitizationService } from './sanitization.service';

/** Streaming PII masking, for the completion path, dead letters and logs. */
@Global()
@Module({ providers: [SanitizationService], exports: [SanitizationService] })
export class SanitizationModule {}
