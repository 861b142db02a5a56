import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import type { TestApp } from './support/app';
import { startPair, TcpRelay, words } from './support/hub-cluster';
import { deleteKeys, testPrefix } from './support/redis-prefix';
import { simulatedOf } from './support/simulated';
import { waitFor } from './support/wait';

/**
 * A real browser's EventSource on the GET form (issue 19): its connection is cut mid-stream (a TCP relay in
 * between drops it) and the relay sends the reconnect to the other node; the EventSource resumes with
 * Last-Event-ID and gets the rest exactly once, and the cluster ran exactly one completion.
 */

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(__dirname, '..', 'var', 'test-artifacts');
const TEXT = words(45, 'b');

interface Received {
  id: string;
  data: string;
}
interface PageState {
  received: Received[];
  opens: number;
  errors: number;
  done: boolean;
}
/**
 * The page's script (plain JavaScript: this project's TypeScript has no DOM types): an EventSource on `url`
 * that keeps every message in `window.hub` and shows the text so far; it closes at [DONE], as a client does.
 */
const PAGE_SCRIPT = (url: string) => `
  document.body.innerHTML = '<h3>EventSource through a relay that drops it</h3><p id="status"></p>' +
    '<pre id="text" style="white-space: pre-wrap"></pre>';
  const state = { received: [], opens: 0, errors: 0, done: false };
  window.hub = state;
  const show = () => {
    document.getElementById('text').textContent = state.received
      .filter((m) => m.data !== '[DONE]')
      .map((m) => JSON.parse(m.data).choices[0]?.delta.content ?? '')
      .join('');
    document.getElementById('status').textContent = 'connections opened: ' + state.opens + ', errors: ' +
      state.errors + ', frames: ' + state.received.length + ', done: ' + state.done;
  };
  const source = new EventSource(${JSON.stringify(url)});
  source.onopen = () => { state.opens++; show(); };
  source.onerror = () => { state.errors++; show(); };
  source.onmessage = (e) => {
    state.received.push({ id: e.lastEventId, data: e.data });
    if (e.data === '[DONE]') { source.close(); state.done = true; }
    show();
  };
`;

// Debian's chromium package (apt-get install chromium); without it there is no browser to drive.
const withChromium = existsSync(CHROMIUM) ? describe : describe.skip;

withChromium('stream hub: a browser EventSource cut mid-stream resumes on the other node', () => {
  const prefix = testPrefix('cbhub');
  let a: TestApp;
  let b: TestApp;
  let relay: TcpRelay;
  let browser: Browser;

  beforeAll(async () => {
    [a, b] = await startPair(prefix, {
      providers: { simulated: { tokens_per_second: 30 } },
      streaming: { protocols: { sse: { retry_timeout: '200ms' } } },
    });
    relay = await TcpRelay.start(Number(new URL(a.url).port));
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
  }, 30_000);
  afterAll(async () => {
    await browser?.close();
    await relay?.close();
    await a?.close();
    await b?.close();
    await deleteKeys(prefix);
  }, 20_000);

  it('reconnects with Last-Event-ID and gets the rest exactly once; one completion ran', async () => {
    const startedBefore = simulatedOf(a).stats.started + simulatedOf(b).stats.started;
    const page = await browser.newPage();
    // Any page of the app's origin (through the relay) will do: the EventSource is same-origin.
    await page.goto(`${relay.url}/health/live`);
    const query = new URLSearchParams({
      model: 'simulated/echo',
      messages: JSON.stringify([{ role: 'user', content: TEXT }]),
    });
    await page.evaluate(PAGE_SCRIPT(`/v1/chat/completions/stream?${query.toString()}`));

    const hub = () => page.evaluate<PageState>('window.hub');
    await waitFor('10 frames in the page', async () => (await hub()).received.length >= 10);
    // The network fails under the browser; its reconnect reaches the other node.
    relay.retarget(Number(new URL(b.url).port));
    relay.cutAll();
    await waitFor('the stream to end in the page', async () => (await hub()).done, 10_000);
    const state = await hub();

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'stream-hub-browser.png'), fullPage: true });
    await page.close();

    const chunks = state.received
      .filter((m) => m.data !== '[DONE]')
      .map((m) => JSON.parse(m.data) as { choices: Array<{ delta: { role?: string; content?: string } }> });
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe(TEXT);
    expect(chunks.filter((c) => c.choices[0]?.delta.role !== undefined)).toHaveLength(1);
    // Exactly once: no frame twice, ids in order, one [DONE].
    const keys = state.received.map((m) => `${m.id}|${m.data}`);
    expect(new Set(keys).size).toBe(keys.length);
    const seqs = state.received.map((m) => Number(m.id.slice(m.id.lastIndexOf(':') + 1)));
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    expect(state.received.filter((m) => m.data === '[DONE]')).toHaveLength(1);
    expect(state.opens).toBe(2);
    expect(relay.accepted).toBeGreaterThanOrEqual(2);
    // One completion in the cluster: A ran it, B only followed it.
    expect(simulatedOf(a).stats.started + simulatedOf(b).stats.started - startedBefore).toBe(1);
    expect(simulatedOf(b).stats.started).toBe(0);
  }, 30_000);
});
