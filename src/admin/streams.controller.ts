import { Controller, Get } from '@nestjs/common';
import { AdminOnly } from '../auth/access.decorators';
import { type RegistryEntry, StreamHub } from '../streaming/hub/stream-hub.service';

/** The stream hub's registry: every completion running now, on every node (`GET /admin/streams`). */
@Controller('admin/streams')
@AdminOnly()
export class StreamsController {
  constructor(private readonly hub: StreamHub) {}

  @Get()
  async list(): Promise<{ data: RegistryEntry[]; node: string; local: number }> {
    return { data: await this.hub.list(), node: this.hub.node, local: this.hub.localCount };
  }
}
