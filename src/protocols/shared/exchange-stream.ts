// The glue between an exchange that owns both ends of a connection (Http1Exchange, GrpcExchange)
// and the relay's ProtocolStream: chunks in, FINs and drains handed over, reads resumed when the
// exchange asks for more. The same for every protocol whose exchange owns the flow.
import type { ProtocolStream, RelayPath } from "../../requests/protocol.js";

/** What an exchange that owns the ends and the flow of its connection offers. */
export interface OwningExchange {
  fromClient(chunk: Buffer): boolean;
  fromUpstream(chunk: Buffer): boolean;
  /** the callbacks that read a side again after fromClient / fromUpstream said false */
  onDemand(client: () => void, upstream: () => void): void;
  clientEnded(): void;
  upstreamEnded(): void;
  clientDrained(): void;
  upstreamDrained(): void;
  destroy(): void;
}

/** The relay's ProtocolStream over an exchange that owns the connection's ends and flow. */
export function owningStream(ex: OwningExchange, path: RelayPath): ProtocolStream {
  ex.onDemand(
    () => path.readClient(),
    () => path.readUpstream(),
  );
  return {
    fromClient: (chunk) => ex.fromClient(chunk),
    fromUpstream: (chunk) => ex.fromUpstream(chunk),
    close: () => ex.destroy(),
    owns: {
      clientEnded: () => ex.clientEnded(),
      upstreamEnded: () => ex.upstreamEnded(),
      clientDrained: () => ex.clientDrained(),
      upstreamDrained: () => ex.upstreamDrained(),
    },
  };
}
