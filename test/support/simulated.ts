import type { TestApp } from './app';
import { ProviderRegistry } from '../../src/providers/provider-registry.service';
import { SimulatedAdapter } from '../../src/providers/adapters/simulated/simulated.adapter';

/** The running app's simulated provider, to observe what it saw (aborts, tokens emitted). */
export function simulatedOf(t: TestApp): SimulatedAdapter {
  const adapter = t.app.get(ProviderRegistry).get('simulated');
  if (!(adapter instanceof SimulatedAdapter)) throw new Error('no simulated provider');
  return adapter;
}
