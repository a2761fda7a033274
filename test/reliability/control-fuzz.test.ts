// Control channel fuzzing against an agent in its own process: over 20,000 generated frames
// (invalid JSON, wrong JSON-RPC shapes, wrong types, huge and negative numbers, NaN strings,
// deep nesting, unknown methods, unicode and control characters, oversized frames), from many
// clients at once, then a flood. Every bad frame gets an error or a close; afterwards the agent
// answers agent.info, every proxy carries data byte for byte, and its memory is back near start.
import { test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import net from "node:net";
import WebSocket from "ws";
import { MAX_FRAME_BYTES, METHOD_NAMES } from "../../src/control/protocol.js";
import { spawnAgent, MiB, type AgentProcess } from "../support/agent-process.js";
import { FrameGenerator, type FuzzFrame } from "../support/fuzz-frames.js";
import { echoServer, dial, readBytes } from "../support/net.js";
import { RawRpc } from "../support/rpc.js";

const FRAMES = 20_000;
const CLIENTS = 40;
const FLOOD_CLIENTS = 50;
const FLOOD_FRAMES = 200;
const SEED = Number(process.env.FUZZ_SEED ?? 20240611);

interface Tally {
  sent: number;
  errors: number;
  results: number;
  closes: Record<string, number>;
  codes: Record<string, number>;
  failures: string[];
}

type Answer = { close: number } | { reply: unknown };

/** A raw fuzzing client: one frame out, its answer (or the close) back. */
class FuzzClient {
  private ws!: WebSocket;
  private waiter: ((a: Answer) => void) | null = null;
  private pending: Answer[] = [];

  private constructor(private readonly url: string) {}

  static async open(url: string): Promise<FuzzClient> {
    const c = new FuzzClient(url);
    await c.connect();
    return c;
  }

  private async connect(): Promise<void> {
    const ws = new WebSocket(this.url, { maxPayload: 64 * MiB });
    ws.on("error", () => {});
    ws.on("message", (data: WebSocket.RawData) => {
      const text = String(data);
      let msg: unknown;
      try {
        msg = JSON.parse(text);
      } catch {
        msg = { unparsable: text.slice(0, 200) };
      }
      if (typeof msg === "object" && msg !== null && (msg as { method?: unknown }).method === "event") return; // a fuzzed subscribe
      this.deliver({ reply: msg });
    });
    ws.on("close", (code: number) => this.deliver({ close: code }));
    this.ws = ws;
    await once(ws, "open");
  }

  private deliver(a: Answer): void {
    const w = this.waiter;
    this.waiter = null;
    if (w) w(a);
    else this.pending.push(a);
  }

  /** Sends one text frame (a Buffer is sent as a text frame too); resolves with its answer. */
  async exchange(text: string | Buffer, timeoutMs = 15_000): Promise<Answer> {
    if (this.ws.readyState !== WebSocket.OPEN) {
      this.pending = [];
      await this.connect();
    }
    this.ws.send(text, { binary: false });
    const queued = this.pending.shift();
    if (queued) return queued;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms to ${String(text).slice(0, 120)}`)), timeoutMs);
      this.waiter = (a) => {
        clearTimeout(timer);
        resolve(a);
      };
    });
  }

  close(): void {
    this.ws.terminate();
  }
}

function isResponse(m: unknown): m is { jsonrpc: string; id: unknown; result?: unknown; error?: { code: unknown; message: unknown } } {
  if (typeof m !== "object" || m === null || Array.isArray(m)) return false;
  const r = m as Record<string, unknown>;
  if (r.jsonrpc !== "2.0" || !("id" in r)) return false;
  if (("result" in r) === ("error" in r)) return false;
  if ("error" in r) {
    const e = r.error as Record<string, unknown> | null;
    return typeof e === "object" && e !== null && Number.isInteger(e.code) && typeof e.message === "string" && e.message.length > 0;
  }
  return true;
}

/** Checks one answer against its frame; returns a problem or null, and tallies it. */
function judge(frame: FuzzFrame, answer: Answer, t: Tally): string | null {
  t.sent++;
  if ("close" in answer) {
    t.closes[answer.close] = (t.closes[answer.close] ?? 0) + 1;
    return frame.bad ? null : `a fair ${frame.kind} frame was answered by close ${answer.close}`;
  }
  const replies = Array.isArray(answer.reply) ? answer.reply : [answer.reply];
  if (replies.length === 0) return "an empty batch reply";
  for (const r of replies) if (!isResponse(r)) return `not a JSON-RPC response: ${JSON.stringify(r).slice(0, 200)}`;
  const errs = replies.filter((r) => (r as { error?: unknown }).error !== undefined) as { error: { code: number; message: string } }[];
  for (const e of errs) {
    t.codes[e.error.code] = (t.codes[e.error.code] ?? 0) + 1;
    if (e.error.code === -32603) return `an internal error (a bug, not a refusal): ${e.error.message}`;
  }
  if (errs.length) t.errors++;
  else t.results++;
  if (frame.bad && errs.length === 0) return `a bad ${frame.kind} frame got a result: ${JSON.stringify(answer.reply).slice(0, 200)}`;
  // an unknown method is -32601, unless the request is invalid anyway (e.g. a bad id): -32600
  if (frame.kind === "method" && errs[0]?.error.code !== -32601 && errs[0]?.error.code !== -32600) return `unknown method answered ${JSON.stringify(errs[0]?.error)}`;
  if (frame.kind === "deep" && errs[0]?.error.code !== -32600) return `deep nesting answered ${JSON.stringify(errs[0]?.error)}`;
  return null;
}

async function echoCheck(agent: AgentProcess, proxy: string, bytes: number): Promise<void> {
  const s = await dial(agent.port(proxy));
  const payload = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) payload[i] = (i * 31 + 7) & 0xff;
  s.write(payload);
  const back = await readBytes(s, bytes, 20_000);
  s.destroy();
  assert.ok(back.equals(payload), `proxy ${proxy} carries ${bytes} bytes unchanged`);
}

test("control fuzzing: 20,000+ hostile frames from many clients, then a flood; the agent is unharmed", { timeout: 240_000 }, async () => {
  const echo = await echoServer();
  const proxies = ["p1", "p2", "p3"];
  // a rate limit high enough that the fuzz reaches the handlers (the limit has its own test)
  const agent = await spawnAgent({
    proxies: proxies.map((name) => ({ name, listen: "127.0.0.1:0", upstream: echo.address })),
    rateLimit: { perSecond: 1_000_000, burst: 1_000_000 },
  });
  const clients: FuzzClient[] = [];
  try {
    for (const p of proxies) await echoCheck(agent, p, 256 * 1024);
    const before = await agent.probe();
    const tally: Tally = { sent: 0, errors: 0, results: 0, closes: {}, codes: {}, failures: [] };
    const started = performance.now();

    // 1. generated frames, many clients at once, each waiting for its answer
    for (let i = 0; i < CLIENTS; i++) clients.push(await FuzzClient.open(agent.url));
    await Promise.all(
      clients.map(async (c, ci) => {
        const gen = new FrameGenerator(SEED + ci, proxies);
        for (let i = 0; i < FRAMES / CLIENTS; i++) {
          const frame = gen.next();
          const problem = judge(frame, await c.exchange(frame.text), tally);
          if (problem && tally.failures.length < 5) tally.failures.push(`seed ${SEED + ci} frame ${i} (${frame.kind}) ${frame.text.slice(0, 160)}: ${problem}`);
        }
      }),
    );

    // 2. frames the generator does not make: oversized, exactly the limit, invalid UTF-8, binary
    const edge = clients[0]!;
    for (let i = 0; i < 5; i++) {
      const over = await edge.exchange("x".repeat(MAX_FRAME_BYTES + 1 + i * 4096));
      tally.sent++;
      assert.deepEqual(over, { close: 1009 }, "a frame over 1 MiB closes with 1009");
      tally.closes[1009] = (tally.closes[1009] ?? 0) + 1;
    }
    const atLimit = await edge.exchange(`"${"y".repeat(MAX_FRAME_BYTES - 2)}"`);
    assert.ok(judge({ kind: "limit", text: "", bad: true }, atLimit, tally) === null, `a frame of exactly 1 MiB is read and refused: ${JSON.stringify(atLimit).slice(0, 200)}`);
    for (const bytes of [Buffer.from([0xff, 0xfe, 0x7b]), Buffer.from([0xc3, 0x28]), Buffer.from('{"a":"\xed\xa0\x80"}', "latin1")]) {
      const a = await edge.exchange(bytes);
      tally.sent++;
      assert.deepEqual(a, { close: 1007 }, "invalid UTF-8 in a text frame closes with 1007");
      tally.closes[1007] = (tally.closes[1007] ?? 0) + 1;
    }
    {
      const raw = await RawRpc.open(agent.url);
      raw.ws.send(Buffer.from(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "agent.info" })), { binary: true });
      const r = (await raw.next()) as { error?: { code: number } };
      tally.sent++;
      assert.equal(r.error?.code, -32600, "a binary frame is refused with -32600");
      await raw.close();
    }
    // HTTP garbage at the control port
    for (const text of ["GARBAGE\r\n\r\n", "GET /control HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n", "\u0000".repeat(9000)]) {
      const port = Number(new URL(agent.httpUrl).port);
      const s = net.connect({ host: "127.0.0.1", port });
      s.on("error", () => {});
      await once(s, "connect");
      s.write(text);
      const answer = await new Promise<string>((resolve) => {
        let got = "";
        s.setEncoding("utf8").on("data", (d: string) => (got += d));
        s.on("close", () => resolve(got));
        setTimeout(() => s.destroy(), 3000);
      });
      tally.sent++;
      assert.match(answer, /^HTTP\/1\.1 4\d\d /, `HTTP garbage is refused with a 4xx, got ${JSON.stringify(answer.slice(0, 80))}`);
    }

    // 3. a flood: many clients blasting frames without waiting; every frame is answered
    // (the fuzz clients go first: the agent allows 64 control connections)
    for (const c of clients) c.close();
    await new Promise((r) => setTimeout(r, 200));
    let floodAnswers = 0;
    await Promise.all(
      Array.from({ length: FLOOD_CLIENTS }, async (_, ci) => {
        const ws = new WebSocket(agent.url);
        ws.on("error", () => {});
        await once(ws, "open");
        const gen = new FrameGenerator(SEED * 7 + ci, proxies);
        let got = 0;
        const all = new Promise<void>((resolve, reject) => {
          ws.on("message", (d: WebSocket.RawData) => {
            const m = JSON.parse(String(d)) as { method?: string };
            if (m.method === "event") return;
            if (++got === FLOOD_FRAMES) resolve();
          });
          ws.on("close", (code: number) => reject(new Error(`flood client ${ci} closed (${code}) after ${got} answers`)));
        });
        for (let i = 0; i < FLOOD_FRAMES; i++) {
          let f = gen.next();
          while (f.kind === "deep" || f.text.length > 60_000) f = gen.next(); // keep the flood about rate, not size
          ws.send(f.text);
        }
        await all;
        floodAnswers += got;
        ws.terminate();
      }),
    );
    tally.sent += FLOOD_CLIENTS * FLOOD_FRAMES;
    const elapsed = performance.now() - started;

    // the agent: alive, answering, proxies intact and carrying data, memory back near its start
    assert.equal(agent.child.exitCode, null, "the agent process is alive");
    assert.deepEqual(tally.failures, [], "every frame answered as it should be");
    const ctl = await RawRpc.open(agent.url);
    const info = await ctl.ok<{ proxies: { name: string }[] }>("agent.info");
    assert.deepEqual(info.proxies.map((p) => p.name).sort(), proxies, "every proxy is still there (the fuzz never names a real one in create/delete)");
    await ctl.ok("impair.clear", { proxy: "*" }); // fuzzed applies may have impaired them
    await ctl.close();
    for (const p of proxies) await echoCheck(agent, p, 1024 * 1024);
    await new Promise((r) => setTimeout(r, 200));
    const after = await agent.probe();
    const report = {
      frames: tally.sent,
      clients: CLIENTS + FLOOD_CLIENTS,
      errors: tally.errors,
      results: tally.results,
      closes: tally.closes,
      codes: tally.codes,
      floodAnswers,
      seconds: Math.round(elapsed / 100) / 10,
      rssMiB: [before.rssBytes / MiB, after.rssBytes / MiB].map((n) => Math.round(n * 10) / 10),
      heapMiB: [before.heapUsedBytes / MiB, after.heapUsedBytes / MiB].map((n) => Math.round(n * 10) / 10),
      fds: [before.fds, after.fds],
    };
    console.log(`control fuzz ${JSON.stringify(report)}`);
    assert.deepEqual(tally.failures, [], "every frame answered as it should be");
    assert.ok(tally.sent >= 20_000, `at least 20,000 frames (${tally.sent})`);
    assert.equal(floodAnswers, FLOOD_CLIENTS * FLOOD_FRAMES, "every flooded frame answered");
    assert.ok(after.heapUsedBytes - before.heapUsedBytes < 16 * MiB, `heap back near its start: ${JSON.stringify(report)}`);
    assert.ok(after.rssBytes - before.rssBytes < 96 * MiB, `RSS bounded: ${JSON.stringify(report)}`);
    assert.ok(after.fds <= before.fds + 1, `no fd left behind: ${JSON.stringify(report)}`);
    assert.equal(agent.stderr(), "", "nothing on the agent's stderr");
  } finally {
    for (const c of clients) c.close();
    await agent.stop();
    await echo.close();
  }
});

test("every method name, and every prototype name, answers as a method or -32601, never an internal error", async () => {
  const echo = await echoServer();
  const agent = await spawnAgent({ proxies: [{ name: "p1", listen: "127.0.0.1:0", upstream: echo.address }] });
  try {
    const rpc = await RawRpc.open(agent.url);
    for (const m of ["toString", "constructor", "__proto__", "hasOwnProperty", "valueOf", "__defineGetter__", "isPrototypeOf"]) {
      const r = await rpc.call(m, {});
      assert.equal(r.error?.code, -32601, `${m}: ${JSON.stringify(r)}`);
    }
    for (const m of METHOD_NAMES) {
      const r = await rpc.call(m, { "__proto__": { polluted: true }, constructor: { prototype: { polluted: true } } });
      assert.ok(r.error, `${m} with prototype keys is refused: ${JSON.stringify(r)}`);
      assert.equal(r.error.code, -32602, `${m}: ${JSON.stringify(r.error)}`);
    }
    assert.equal(({} as { polluted?: boolean }).polluted, undefined);
    const info = await rpc.ok<{ proxies: unknown[] }>("agent.info");
    assert.equal(info.proxies.length, 1);
    await rpc.close();
  } finally {
    await agent.stop();
    await echo.close();
  }
});
