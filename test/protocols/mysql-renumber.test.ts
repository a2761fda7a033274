// The connection phase's renumbering (src/protocols/mysql/renumber.ts) on bytes cut anywhere:
// the real sockets of test/tls/mysql-tls.test.ts deliver whole packets; here every packet
// boundary, header and body is split across chunks, one byte at a time and at random cuts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { renumberConnectionPhase } from "../../src/protocols/mysql/renumber.js";
import type { ProtocolStream } from "../../src/requests/protocol.js";

function packet(seq: number, body: Buffer | string): Buffer {
  const b = Buffer.isBuffer(body) ? body : Buffer.from(body, "latin1");
  const head = Buffer.alloc(4);
  head.writeUIntLE(b.length, 0, 3);
  head[3] = seq;
  return Buffer.concat([head, b]);
}

/** Sequence ids of the packets in `bytes`. */
function seqs(bytes: Buffer): number[] {
  const out: number[] = [];
  for (let at = 0; at + 4 <= bytes.length; at += 4 + bytes.readUIntLE(at, 3)) out.push(bytes[at + 3]!);
  return out;
}

/** Runs a conversation through the stage, each side's bytes cut by `cut`. */
function converse(delta: number, steps: Array<["up" | "down", Buffer]>, cut: (b: Buffer) => Buffer[]): { up: Buffer; down: Buffer } {
  const got = { up: [] as Buffer[], down: [] as Buffer[] };
  const inner: ProtocolStream = {
    fromClient: (b) => (got.up.push(Buffer.from(b)), true),
    fromUpstream: (b) => (got.down.push(Buffer.from(b)), true),
    close: () => {},
  };
  const stage = renumberConnectionPhase(delta)(inner);
  for (const [dir, bytes] of steps) for (const piece of cut(Buffer.from(bytes))) (dir === "up" ? stage.fromClient(piece) : stage.fromUpstream(piece));
  return { up: Buffer.concat(got.up), down: Buffer.concat(got.down) };
}

const bytewise = (b: Buffer): Buffer[] => [...b].map((x) => Buffer.from([x]));

function randomCuts(seed: number): (b: Buffer) => Buffer[] {
  let s = seed;
  const next = (): number => ((s = (s * 1103515245 + 12345) & 0x7fffffff), s);
  return (b) => {
    const out: Buffer[] = [];
    for (let at = 0; at < b.length; ) {
      const n = 1 + (next() % 7);
      out.push(b.subarray(at, at + n));
      at += n;
    }
    return out;
  };
}

// a plaintext client in front of a TLS server (delta +1), an ed25519 auth switch, then commands
const plainClient: Array<["up" | "down", Buffer]> = [
  ["up", packet(1, Buffer.alloc(40, 7))], // the handshake response
  ["down", packet(3, "\xfeclient_ed25519\0" + "s".repeat(32))], // auth switch
  ["up", packet(3, Buffer.alloc(64, 9))], // the signature
  ["down", packet(5, "\x00\x00\x00\x02\x00\x00\x00")], // OK: the command phase follows
  ["up", packet(0, "\x03SELECT 1")],
  ["down", Buffer.concat([packet(1, "\x01"), packet(2, "col"), packet(3, "\xfe\x00\x00\x02\x00"), packet(4, "\x011"), packet(5, "\xfe\x00\x00\x02\x00")])],
  ["up", packet(0, "\x03SELECT 2")],
];

for (const [name, cut] of [
  ["whole", (b: Buffer) => [b]],
  ["one byte at a time", bytewise],
  ["random cuts", randomCuts(7)],
] as const) {
  test(`plaintext client, TLS server (+1), ${name}: the phase is renumbered both ways, commands untouched`, () => {
    const { up, down } = converse(1, plainClient, cut);
    assert.deepEqual(seqs(up), [2, 4, 0, 0]);
    assert.deepEqual(seqs(down), [2, 4, 1, 2, 3, 4, 5]);
    // bodies pass as they came
    assert.equal(up.length, plainClient.filter(([d]) => d === "up").reduce((n, [, b]) => n + b.length, 0));
  });
}

test("TLS client, plaintext server (-1), one byte at a time: the other way round; an ERR ends the phase too", () => {
  const steps: Array<["up" | "down", Buffer]> = [
    ["up", packet(2, Buffer.alloc(40, 7))],
    ["down", packet(2, "\x01\x04")], // more data (caching_sha2: full authentication)
    ["up", packet(4, Buffer.alloc(20, 1))],
    ["down", packet(4, "\xff\x15\x04#28000Access denied")],
    ["up", packet(0, "\x01")],
  ];
  const { up, down } = converse(-1, steps, bytewise);
  assert.deepEqual(seqs(up), [1, 3, 0]);
  assert.deepEqual(seqs(down), [3, 5]);
});
