// TEMPORARY stand-in until the dlq branch lands (deleted at merge).
import { Injectable } from '@nestjs/common';
@Injectable()
export class DeadLetterService {
  record(_letter: unknown): void {}
}
