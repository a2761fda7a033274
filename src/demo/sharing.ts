// What a shared link means, measured: N parallel downloads from one client through a profile,
// with share client (the default: one link for the client, as a browser's connections share a
// phone's) and with share connection (a link each, as Toxiproxy's bandwidth toxic).
import type { ControlClient } from "../control/client.js";
import type { ShareScope } from "../profiles/types.js";
import { openClient, downloadSpan } from "./measure.js";

export interface SharingMeasurement {
  share: ShareScope;
  connections: number;
  /** bits per second, all connections together, first byte to last */
  total: number;
  /** bits per second of each connection over the same span (first byte of any to last of all) */
  each: number[];
}

/**
 * Applies `profile` with `share`, then downloads about `seconds` of the link's bandwidth split
 * over `connections` parallel connections from one client.
 */
export async function measureSharing(
  ctl: ControlClient,
  proxy: string,
  port: number,
  profile: string,
  share: ShareScope,
  connections: number,
  bandwidth: number,
  seconds = 1.5,
): Promise<SharingMeasurement> {
  await ctl.apply(proxy, profile, { set: { share } });
  const perConnection = share === "connection" ? bandwidth : bandwidth / connections;
  const bytes = Math.max(16 * 1024, Math.round((perConnection / 8) * seconds));
  const sockets = await Promise.all(Array.from({ length: connections }, () => openClient(port)));
  try {
    const spans = await Promise.all(sockets.map((s) => downloadSpan(s, bytes, 60_000)));
    const first = Math.min(...spans.map((x) => x.first));
    const last = Math.max(...spans.map((x) => x.last));
    // the first segment arrives at the first timestamp: not part of the timed span (as downloadBps)
    const segment = 1460;
    return {
      share,
      connections,
      total: ((connections * bytes - segment) * 8 * 1000) / Math.max(last - first, 1e-3),
      // each connection's bytes over the same span: its share of the link while they all ran
      each: spans.map(() => ((bytes - segment / connections) * 8 * 1000) / Math.max(last - first, 1e-3)),
    };
  } finally {
    for (const s of sockets) s.destroy();
  }
}
