import { GUARDS_METADATA } from '@nestjs/common/constants';
import { AdminTokenGuard } from '../admin/admin-token.guard';
import { DeadLettersController } from './dead-letters.controller';

describe('DeadLettersController', () => {
  it('is guarded by the admin token as a whole, so no handler can be left open', () => {
    expect(Reflect.getMetadata(GUARDS_METADATA, DeadLettersController)).toEqual([AdminTokenGuard]);
  });
});
