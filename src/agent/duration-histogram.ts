// A Prometheus histogram observed on the request path: one observation per request answered,
// hundreds of thousands a second through a busy protocol proxy. prom-client's observe() builds
// and hashes a label object on every call (a few per cent of a proxy's CPU at that rate), so
// this one counts into plain arrays per series, bound once, and hands prom-client's registry
// the same exposition a prom-client Histogram gives (cumulative `le` buckets, _sum, _count) at
// scrape time. It takes a count too: requests answered in one read share one duration.

/** What prom-client's registry reads from a metric (the subset it uses for exposition). */
interface MetricValue {
  labels: Record<string, string | number>;
  value: number;
  metricName: string;
}

interface Series {
  labels: Record<string, string>;
  /** observations per bucket (not cumulative); the last one is +Inf */
  counts: Float64Array;
  sum: number;
  count: number;
}

export class DurationHistogram {
  readonly type = "histogram";
  readonly aggregator = "sum";
  private readonly series = new Map<string, Series>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly buckets: readonly number[],
  ) {}

  /** The observer of one label set: observe(seconds, count) adds `count` observations of `seconds`. */
  bind(labels: Record<string, string>): (seconds: number, count?: number) => void {
    const key = JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1)));
    let s = this.series.get(key);
    if (s === undefined) {
      s = { labels: { ...labels }, counts: new Float64Array(this.buckets.length + 1), sum: 0, count: 0 };
      this.series.set(key, s);
    }
    const series = s;
    const bounds = this.buckets;
    return (seconds, count = 1) => {
      if (!Number.isFinite(seconds) || count <= 0) return;
      let i = 0;
      while (i < bounds.length && seconds > bounds[i]!) i++;
      series.counts[i]! += count;
      series.sum += seconds * count;
      series.count += count;
    };
  }

  /** Drops every series whose labels include all of `match` (a deleted proxy's). */
  remove(match: Record<string, string>): void {
    for (const [key, s] of this.series) {
      if (Object.entries(match).every(([k, v]) => s.labels[k] === v)) this.series.delete(key);
    }
  }

  /** prom-client's registry calls this at scrape time. */
  get(): { name: string; help: string; type: string; aggregator: string; values: MetricValue[] } {
    const values: MetricValue[] = [];
    for (const s of this.series.values()) {
      let cumulative = 0;
      this.buckets.forEach((le, i) => {
        cumulative += s.counts[i]!;
        values.push({ labels: { ...s.labels, le }, value: cumulative, metricName: `${this.name}_bucket` });
      });
      values.push({ labels: { ...s.labels, le: "+Inf" }, value: s.count, metricName: `${this.name}_bucket` });
      values.push({ labels: { ...s.labels }, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: { ...s.labels }, value: s.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  /** registry.resetMetrics(): every series back to zero (bound observers keep working). */
  reset(): void {
    for (const s of this.series.values()) {
      s.counts.fill(0);
      s.sum = 0;
      s.count = 0;
    }
  }
}
