import { type BeforeApplicationShutdown, Injectable } from '@nestjs/common';
import { DrainService } from './streaming/drain.service';

/**
 * The first step of shutdown. Nest runs `beforeApplicationShutdown` hooks from the root module down (the
 * shallowest modules first), so a hook on the root module runs before every other: the drain of in-flight
 * streams comes before Terminus marks every health check `shutting_down` (which would fail liveness mid-drain)
 * and before the GraphQL and workflow servers stop, wherever their modules sit in the import graph.
 */
@Injectable()
export class ShutdownSequence implements BeforeApplicationShutdown {
  constructor(private readonly drain: DrainService) {}

  async beforeApplicationShutdown(signal?: string): Promise<void> {
    await this.drain.drain(signal);
  }
}
