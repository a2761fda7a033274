// One full measurement of an impaired link through netimpair in its own process: delay probes
// on one connection, then bulk both ways on another.
import type { ImpairmentSpec } from "../../../src/profiles/types.js";
import { startRelay } from "./relay.js";
import { Upstream, bulk, delayResult, probeDelays, type BulkResult, type DelayResult, type Dir } from "./link-probe.js";

export interface LinkMeasurement {
  delay: Record<Dir, DelayResult>;
  bulk: Record<Dir, BulkResult>;
}

export interface MeasureOptions {
  probes: number;
  /** seconds of bulk data per direction at the configured rate */
  bulkSeconds: number;
  /** bytes per direction when the bandwidth is unlimited */
  unlimitedBytes?: number;
}

export async function measureLink(spec: ImpairmentSpec, opts: MeasureOptions): Promise<LinkMeasurement> {
  const upstream = await Upstream.start();
  const relay = await startRelay("engine", upstream.port, spec);
  try {
    const maxDelay = Math.max(spec.up.delay + 6 * spec.up.jitter + spec.up.rto, spec.down.delay + 6 * spec.down.jitter + spec.down.rto);
    const maxJitter = Math.max(spec.up.jitter, spec.down.jitter);
    const spacing = Math.max(50, 6 * maxJitter);
    const p1 = await upstream.pair(relay.port);
    const delays = await probeDelays(p1, opts.probes, spacing, maxDelay + 5000);
    p1.client.destroy();
    p1.server.destroy();

    const bytesFor = (d: Dir): number => {
      const bw = spec[d].bandwidth;
      return bw === null ? (opts.unlimitedBytes ?? 16 * 2 ** 20) : Math.max(4096, Math.round((bw / 8) * opts.bulkSeconds));
    };
    const p2 = await upstream.pair(relay.port);
    const b = await bulk(
      p2,
      { up: bytesFor("up"), down: bytesFor("down") },
      { up: spec.up.bandwidth, down: spec.down.bandwidth },
      opts.bulkSeconds * 3000 + maxDelay + 10_000,
    );
    p2.client.destroy();
    p2.server.destroy();
    return {
      delay: { up: delayResult(spec.up, delays.up), down: delayResult(spec.down, delays.down) },
      bulk: b,
    };
  } finally {
    await relay.stop();
    await upstream.close();
  }
}
