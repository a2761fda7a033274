// The contract between a UDP proxy's flows (relay/udp) and a protocol that reads datagrams (dns):
// every datagram of a flow passes the protocol's handler first, which moves it on (or answers,
// holds, drops) through the flow's DatagramPath.

/** What a protocol handler gets to move one flow's datagrams. */
export interface DatagramPath {
  readonly id: string;
  readonly clientLabel: string;
  /** through the up link to the server */
  toUpstream(buf: Buffer): void;
  /** through the down link to the client */
  toClient(buf: Buffer): void;
  /** an answer made in the server's place for a query of `requestBytes` that never went up: after its trip up the link, then the down link */
  answerClient(buf: Buffer, requestBytes: number): void;
  /** runs `fn` after `ms` unless the flow closes first */
  later(ms: number, fn: () => void): void;
  /** counts a datagram the handler dropped on purpose (a `lose` rule's answer) */
  dropped(dir: "up" | "down", cause: "lose"): void;
}

/** A protocol's per-flow layer: every datagram of both directions passes it first. */
export interface DatagramHandler {
  fromClient(buf: Buffer): void;
  fromUpstream(buf: Buffer): void;
  close(): void;
}
