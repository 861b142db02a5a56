import { echoStream, postSse, startPair, textOf, words, errorOf } from './support/hub-cluster';
import { testPrefix } from './support/redis-prefix';
import { EventBus } from '../src/events/event-bus.service';
it('x', async () => {
  const [a, b] = await startPair(testPrefix('cbhub'), { providers: { simulated: { tokens_per_second: 30 } }, streaming: { hub: { lease_ttl: '2s' } } });
  a.app.get(EventBus).listen('hub-control', (m) => console.log('A heard', JSON.stringify(m), Date.now()));
  for (let round = 0; round < 2; round++) {
  const started = await postSse(`${a.url}/v1/chat/completions`, echoStream(words(45)));
  const id = started.response.headers.get('x-completion-id')!;
  await started.atLeast(3);
  console.log('cancel at', Date.now());
  const res = await fetch(`${b.url}/v1/chat/completions/${id}/cancel`, { method: 'POST' });
  console.log(await res.text(), Date.now());
  const r = await started.done;
  console.log(r.events.length, JSON.stringify(errorOf(r.events)), Date.now());
  }
  await a.close(); await b.close();
}, 30000);
