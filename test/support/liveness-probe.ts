/**
 * GET /health/live in a loop while an attack runs: every probe must answer 200, and the latencies show whether
 * the node froze. The figures are printed (timings belong in bench/, not in assertions).
 */
export class LivenessProbe {
  readonly latencies: number[] = [];
  private probing = true;
  private readonly done: Promise<void>;

  constructor(
    private readonly url: string,
    pauseMs = 10,
  ) {
    this.done = (async () => {
      do {
        const started = performance.now();
        const res = await fetch(`${url}/health/live`);
        await res.arrayBuffer();
        if (res.status !== 200) throw new Error(`/health/live answered ${res.status}`);
        this.latencies.push(performance.now() - started);
        await new Promise((resolve) => setTimeout(resolve, pauseMs));
      } while (this.probing);
    })();
  }

  /** Ends the loop (after the probe in flight) and describes what it saw, e.g. for console.log. */
  async stop(what: string): Promise<string> {
    this.probing = false;
    await this.done;
    if (this.latencies.length === 0) throw new Error('no probe answered');
    const sorted = [...this.latencies].sort((a, b) => a - b);
    const median = sorted[sorted.length >> 1]!;
    return (
      `/health/live during ${what}: ${sorted.length} probes, median ${median.toFixed(1)} ms, ` +
      `max ${sorted.at(-1)!.toFixed(1)} ms`
    );
  }
}
