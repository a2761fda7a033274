// The runner's own request budget per agent: a token bucket kept under the agent's default
// per-connection rate limit (200 requests/s, burst 400), so no scenario the schema accepts trips
// it. Ramp and trace updates that would exceed it are superseded by later ones (the runner skips
// an update whose proxies a later, already due, instant sets again) rather than queued.
export const RUN_REQUESTS_PER_SECOND = 150;
export const RUN_REQUESTS_BURST = 150;

export class Pacer {
  private tokens: number;
  private at = performance.now();

  constructor(
    private readonly perSecond = RUN_REQUESTS_PER_SECOND,
    private readonly burst = RUN_REQUESTS_BURST,
  ) {
    this.tokens = burst;
  }

  /** Waits until a request may go, and takes its token. */
  async acquire(): Promise<void> {
    for (;;) {
      const now = performance.now();
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) / 1000) * this.perSecond);
      this.at = now;
      if (this.tokens >= 1) {
        this.tokens -= 1;
        return;
      }
      const waitMs = Math.ceil(((1 - this.tokens) / this.perSecond) * 1000);
      await new Promise((resolve) => setTimeout(resolve, waitMs));
    }
  }
}
