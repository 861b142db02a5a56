import { Module } from '@nestjs/common';
import { ProvidersModule } from '../providers/providers.module';
import { RoutingService } from './routing.service';

@Module({
  imports: [ProvidersModule],
  providers: [RoutingService],
  exports: [RoutingService],
})
export class RoutingModule {}
