// TEMPORARY stand-in until the circuit branch lands (deleted at merge).
import { Injectable } from '@nestjs/common';
export type CircuitState = 'closed' | 'open' | 'half_open';
export interface Admission {
  allowed: boolean;
  trial: boolean;
  state: CircuitState;
  retryAfterMs?: number;
}
@Injectable()
export class CircuitBreakerService {
  admit(_p: string, _m: string): Promise<Admission> {
    return Promise.resolve({ allowed: true, trial: false, state: 'closed' });
  }
  isOpen(_p: string, _m: string): boolean {
    return false;
  }
  record(_p: string, _m: string, _ok: boolean, _trial: boolean): Promise<void> {
    return Promise.resolve();
  }
}
