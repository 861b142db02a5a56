import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { ModelConfig, ProviderConfig } from '../src/config/app-config';
import { SimulatedAdapter } from '../src/providers/adapters/simulated/simulated.adapter';
import type { ChatCompletionRequest } from '../src/contract/chat-request';
import { DONE_FRAME, OpenAiChunkSerializer } from '../src/http/openai/openai-chunk.serializer';

/**
 * The baseline: the same simulated provider and the same chunk serializer behind a bare node:http server,
 * with no framework, validation, routing, metrics or logging. Router figures are compared with this.
 */
export async function startDirectServer(
  lengthWords: number,
): Promise<{ url: string; close: () => Promise<void> }> {
  const adapter = new SimulatedAdapter(
    'simulated',
    Object.assign(new ProviderConfig(), { type: 'simulated', tokens_per_second: 0, first_token_delay: 0 }),
  );
  const model = Object.assign(new ModelConfig(), {
    id: 'simulated/lorem',
    provider: 'simulated',
    upstream: 'lorem',
    options: { length: lengthWords },
  });
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      void (async () => {
        const request = JSON.parse(body) as ChatCompletionRequest;
        const completionId = `chatcmpl-${randomBytes(12).toString('base64url')}`;
        const controller = new AbortController();
        res.on('close', () => controller.abort());
        const events = adapter.stream({ completionId, model, body: request, signal: controller.signal });
        if (request.stream) {
          const serializer = new OpenAiChunkSerializer(
            { completionId, created: Math.floor(Date.now() / 1000), model: model.id, provider: 'simulated' },
            false,
          );
          res.writeHead(200, {
            'content-type': 'text/event-stream; charset=utf-8',
            'cache-control': 'no-cache',
          });
          for await (const event of events) {
            if (!res.write(serializer.frame(event))) await new Promise((r) => res.once('drain', r));
          }
          res.end(DONE_FRAME);
          return;
        }
        let content = '';
        let usage: unknown;
        for await (const event of events) {
          if (event.type === 'content_chunk') content += event.content;
          if (event.type === 'completed') usage = event.usage;
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            id: completionId,
            object: 'chat.completion',
            choices: [{ message: { content } }],
            usage,
          }),
        );
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
