// Which spec fields a proxy's transport can carry: TCP-only faults (reset, halfOpen, slowClose,
// limit, connect) mean nothing on datagrams and are refused on udp and dns proxies; `duplicate`
// copies datagrams and is refused on TCP proxies. Each error names the field.
import type { FieldError } from "../../control/protocol.js";
import type { ImpairmentSpec } from "../../profiles/types.js";
import type { ProtocolName } from "../../requests/rule.js";

export const TCP_ONLY_FIELDS = ["reset", "halfOpen", "slowClose", "limit", "connect"] as const;

export function isDatagramProtocol(protocol: ProtocolName): boolean {
  return protocol === "udp" || protocol === "dns";
}

export function datagramFieldErrors(proxy: string, protocol: ProtocolName, spec: ImpairmentSpec): FieldError[] {
  const errors: FieldError[] = [];
  if (isDatagramProtocol(protocol)) {
    for (const f of TCP_ONLY_FIELDS) {
      if (spec[f] !== null) errors.push({ path: f, message: `proxy ${proxy} carries ${protocol} datagrams; ${f} only means something on a TCP connection (use loss, delay, jitter, bandwidth, duplicate, stall)` });
    }
    for (const dir of ["up", "down"] as const) {
      if (spec[dir].slice !== null) errors.push({ path: `${dir}.slice`, message: `proxy ${proxy} carries ${protocol} datagrams; a datagram is never cut into slices` });
    }
  } else if (protocol !== "dns") {
    for (const dir of ["up", "down"] as const) {
      if (spec[dir].duplicate) errors.push({ path: `${dir}.duplicate`, message: `proxy ${proxy} carries ${protocol} over TCP; duplicate copies datagrams (udp and dns proxies only)` });
    }
  }
  return errors;
}
