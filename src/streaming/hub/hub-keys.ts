/** Where the hub keeps a completion in Redis (under `redis.key_prefix`). */
export class HubKeys {
  constructor(private readonly prefix: string) {}

  /** The owner's lease: the registry entry (JSON), expiring unless refreshed. */
  lease(id: string): string {
    return `${this.prefix}stream:${id}`;
  }

  /**
   * The Redis Stream of its events: one entry per written run of them, id `0-<seq of its last>`, field `b` their
   * JSON array (`e` one event's JSON, as the lost-owner end is written), `t` on the terminal one.
   */
  events(id: string): string {
    return `${this.prefix}stream:${id}:events`;
  }

  /** Its summary (JSON): status, and the whole answer once it ended; kept `event_bus.retention`. */
  state(id: string): string {
    return `${this.prefix}stream:${id}:state`;
  }

  /** Every running completion's id, scored by its start (ms): the operators' list. */
  get index(): string {
    return `${this.prefix}streams`;
  }
}

/** The sequence number of a stream entry id `0-<seq>` (its last event's). */
export function seqOf(entryId: string): number {
  return Number(entryId.slice(entryId.indexOf('-') + 1));
}
