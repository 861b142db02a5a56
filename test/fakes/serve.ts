/**
 * Starts every vendor fake on fixed loopback ports for manual trials with `npm start`:
 *   npm run fakes            (prints the env vars to point the router at them)
 * The fakes echo the last user message back word by word, in each vendor's exact wire format. Directives in
 * the message steer them: [fake:thinking] [fake:tool] [fake:keepalive] [fake:drip] [fake:stall] [fake:close]
 * [fake:malformed] [fake:error=rate_limit|auth|forbidden|overloaded|server|unavailable|bad_request|not_found]
 * [fake:mid-error=<same kinds>].
 */
import { anthropicWire } from './anthropic.fake';
import { googleWire } from './google.fake';
import { ollamaWire } from './ollama.fake';
import { openAiWire } from './openai.fake';
import { VendorFake, type VendorWire } from './vendor-fake';

interface Served {
  wire: VendorWire;
  port: number;
  /** Env vars that point the router's provider at this fake; `{url}` is replaced by the fake's URL. */
  env: Record<string, string>;
}

const BASE_PORT = Number(process.env.FAKES_PORT ?? 4010);

const SERVED: Served[] = [
  {
    wire: openAiWire,
    port: BASE_PORT,
    env: {
      OPENAI_BASE_URL: '{url}/v1',
      OPENAI_API_KEY: 'sk-fake-openai',
      OPENROUTER_BASE_URL: '{url}/v1',
      OPENROUTER_API_KEY: 'sk-fake-openrouter',
    },
  },
  {
    wire: anthropicWire,
    port: BASE_PORT + 1,
    env: { ANTHROPIC_BASE_URL: '{url}/v1', ANTHROPIC_API_KEY: 'sk-ant-fake' },
  },
  {
    wire: googleWire,
    port: BASE_PORT + 2,
    env: { GEMINI_BASE_URL: '{url}/v1beta', GEMINI_API_KEY: 'fake-gemini-key' },
  },
  { wire: ollamaWire, port: BASE_PORT + 3, env: { OLLAMA_BASE_URL: '{url}' } },
];

async function main(): Promise<void> {
  const lines: string[] = [];
  for (const served of SERVED) {
    const fake = await new VendorFake(served.wire, { record: false }).start(served.port);
    console.log(`fake ${served.wire.name.padEnd(10)} ${fake.url}`);
    for (const [name, value] of Object.entries(served.env))
      lines.push(`${name}=${value.replace('{url}', fake.url)}`);
  }
  console.log(`\nIn another terminal:\n\n  ${lines.join(' \\\n  ')} \\\n  npm start\n`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
