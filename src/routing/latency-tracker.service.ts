import { Injectable } from '@nestjs/common';
import { AppConfig } from '../config/app-config';

interface Average {
  ms: number;
  samples: number;
}

/**
 * Moving average (exponentially weighted) of time to first token per provider and model, from this node's
 * own completions. `lowest_latency` ranks by it; a pair never measured ranks first, so it gets measured.
 */
@Injectable()
export class LatencyTracker {
  private readonly averages = new Map<string, Average>();
  private readonly alpha: number;

  constructor(config: AppConfig) {
    this.alpha = config.routing.latency_smoothing;
  }

  record(provider: string, model: string, ttftMs: number): void {
    const key = keyOf(provider, model);
    const average = this.averages.get(key);
    if (average) {
      average.ms += this.alpha * (ttftMs - average.ms);
      average.samples++;
    } else {
      this.averages.set(key, { ms: ttftMs, samples: 1 });
    }
  }

  /** The average in ms, or undefined when never measured. */
  averageMs(provider: string, model: string): number | undefined {
    return this.averages.get(keyOf(provider, model))?.ms;
  }

  snapshot(): Array<{ provider: string; model: string; ttftMs: number; samples: number }> {
    return [...this.averages].map(([key, { ms, samples }]) => {
      const [provider = '', model = ''] = key.split('\u0000');
      return { provider, model, ttftMs: Math.round(ms * 10) / 10, samples };
    });
  }
}

function keyOf(provider: string, model: string): string {
  return `${provider}\u0000${model}`;
}
