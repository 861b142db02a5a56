import { EventEmitter } from 'node:events';
import type Redis from 'ioredis';
import pino from 'pino';
import { RedisGate } from './redis-gate';

/** An ioredis connection as the gate sees it: a status and its events. */
class FakeConnection extends EventEmitter {
  status = 'connecting';
  to(status: string, event?: string): void {
    this.status = status;
    if (event) this.emit(event);
  }
}

function gateOn(connection: FakeConnection): RedisGate {
  return new RedisGate(connection as unknown as Redis, 1_000, pino({ level: 'silent' }), 'test');
}

describe('RedisGate', () => {
  it('waits for a first connection attempt in progress', async () => {
    const connection = new FakeConnection();
    const gate = gateOn(connection);
    const ready = gate.whenReady(5_000);
    connection.to('ready', 'ready');
    await expect(ready).resolves.toBe(true);
  });

  it('once the connection is lost, answers false at once even while a reconnect attempt is under way', async () => {
    const connection = new FakeConnection();
    const gate = gateOn(connection);
    connection.to('ready', 'ready');
    connection.to('close', 'close');
    connection.to('reconnecting');
    connection.to('connecting');
    // Not the deadline (past the test's timeout): only the known-down answer settles this in time.
    await expect(gate.whenReady(60_000)).resolves.toBe(false);

    connection.to('ready', 'ready');
    await expect(gate.whenReady(5_000)).resolves.toBe(true);
  });

  it('a first attempt that failed makes Redis known down too', async () => {
    const connection = new FakeConnection();
    const gate = gateOn(connection);
    const first = gate.whenReady(5_000);
    connection.to('close', 'close');
    await expect(first).resolves.toBe(false);
    connection.to('connecting');
    await expect(gate.whenReady(60_000)).resolves.toBe(false);
  });
});
