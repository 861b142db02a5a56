import { Writable } from 'node:stream';
import pino from 'pino';
import { LazyChildLogger } from './lazy-child';

function sink(): { stream: Writable; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
  return { stream, lines };
}

describe('LazyChildLogger', () => {
  it('makes no child until a line is written at an enabled level, then writes with its bindings', async () => {
    const { stream, lines } = sink();
    const parent = pino({ level: 'warn' }, stream);
    const made = jest.spyOn(parent, 'child');
    const log = new LazyChildLogger(parent, { request_id: 'r-1' }, {});
    log.info({ a: 1 }, 'below the level');
    log.debug('below the level');
    log.trace('below the level');
    expect(made).not.toHaveBeenCalled();
    log.warn({ b: 2 }, 'written');
    log.error('written too');
    expect(made).toHaveBeenCalledTimes(1);
    await new Promise((resolve) => setImmediate(resolve));
    expect(lines).toEqual([
      expect.objectContaining({ level: 40, request_id: 'r-1', b: 2, msg: 'written' }),
      expect.objectContaining({ level: 50, request_id: 'r-1', msg: 'written too' }),
    ]);
  });

  it('reads the parent level until it has a child, and its own children carry both bindings', async () => {
    const { stream, lines } = sink();
    const parent = pino({ level: 'info' }, stream);
    const log = new LazyChildLogger(parent, { request_id: 'r-2' }, {});
    expect(log.level).toBe('info');
    log.child({ step: 'x' }).info('from a grandchild');
    log.level = 'error';
    log.warn('now below its own level');
    expect(parent.level).toBe('info');
    await new Promise((resolve) => setImmediate(resolve));
    expect(lines).toEqual([
      expect.objectContaining({ request_id: 'r-2', step: 'x', msg: 'from a grandchild' }),
    ]);
  });
});
