import { availableParallelism } from 'node:os';
import { loadConfig } from '../config/config.loader';
import { forWorker, workerCount } from './cluster-primary';
import { isMetricsReply, isMetricsRequest } from './cluster-messages';

describe('cluster settings', () => {
  it('reads worker_threads: 0 is one worker per CPU, n is n', () => {
    expect(workerCount(0)).toBe(availableParallelism());
    expect(workerCount(1)).toBe(1);
    expect(workerCount(6)).toBe(6);
  });

  it('gives each worker slot its own dead-letter spool, kept by the slot', () => {
    const spoolOf = (path: string, slot: number) => {
      const config = loadConfig({
        env: {},
        overrides: [{ streaming: { error_handling: { dead_letter_spool: path } } }],
      });
      return forWorker(config, slot).streaming.error_handling.dead_letter_spool;
    };
    expect(spoolOf('var/dead-letters.spool.ndjson', 1)).toBe('var/dead-letters.spool.w1.ndjson');
    expect(spoolOf('var/dead-letters.spool.ndjson', 2)).toBe('var/dead-letters.spool.w2.ndjson');
    expect(spoolOf('/data/spool', 3)).toBe('/data/spool.w3');
  });

  it('tells its IPC messages apart from anything else on the channel', () => {
    expect(isMetricsRequest({ type: 'cb:metrics', id: 1 })).toBe(true);
    expect(isMetricsRequest({ type: 'prom-client:getMetricsReq', requestId: 1 })).toBe(false);
    expect(isMetricsReply({ type: 'cb:metrics-reply', id: 2, text: '' })).toBe(true);
    expect(isMetricsReply({ type: 'cb:metrics-reply', id: '2' })).toBe(false);
    expect(isMetricsReply(null)).toBe(false);
  });
});
