// Generated hostile control frames for the fuzz tests (not a test file). A seeded generator, so
// a failure can be replayed from its seed and index. Every frame is built so that the agent
// must answer it (all request-shaped objects carry an "id" key): a frame marked `bad` must get
// a JSON-RPC error (or a close), never a result.
import { METHOD_NAMES } from "../../src/control/protocol.js";
import { seededRandom } from "./random.js";
export { seededRandom };

export interface FuzzFrame {
  kind: string;
  text: string;
  /** true: only an error (or a close) is a right answer */
  bad: boolean;
}


const WEIRD_STRINGS = [
  "",
  " ",
  "\u0000",
  "a\u0000b",
  "\u0007\u001b[31mred\u001b[0m",
  "\r\n\t",
  "\u202eevil\u202c",
  "\ud800",
  "\udfff\ud800",
  "💥🔥",
  "名前",
  "ﬀ",
  "../../etc/passwd",
  "%s%s%n",
  "${7*7}",
  "__proto__",
  "constructor",
  "prototype",
  "toString",
  "NaN",
  "Infinity",
  "-Infinity",
  "1e999ms",
  "-5s",
  "NaNms",
  "9999999999999999999999d",
  "25d",
  "0x10",
  "1e-400",
  "5%%",
  "-1%",
  "101%",
  "300 ms",
  "300MS",
  "10 Mbps",
  "unlimitedd",
  "*",
  "**",
  "256.0.0.1:80",
  "127.0.0.1:99999",
  "127.0.0.1:-1",
  "[::1:80",
  "host:",
  ":80",
  "a".repeat(300),
  "x".repeat(70_000),
];

const WEIRD_NUMBERS = [0, -0, -1, 1, 0.5, -1e308, 1e308, Number.MAX_SAFE_INTEGER + 2, -Number.MAX_SAFE_INTEGER - 2, 2 ** 31, 2 ** 32, 2 ** 64, 1e-320, 3.14159, 86_400_000 * 25];
/** written as raw JSON text (JSON.stringify cannot say these) */
const RAW_NUMBERS = ["1e309", "-1e309", "1e-400", "123456789012345678901234567890", "-0.0", "0e0", "1E+2"];

const FIELD_NAMES = [
  "proxy",
  "profile",
  "spec",
  "set",
  "ttl",
  "percent",
  "clients",
  "bindToSession",
  "name",
  "listen",
  "upstream",
  "enabled",
  "maxConnections",
  "id",
  "topics",
  "intervalMs",
  "__proto__",
  "constructor",
  "down.delay",
  "up.bandwidth",
  "reset.after",
  "stall.every",
  "extends",
  "rtt",
  "down",
  "up",
  "halfOpen",
  "limit",
];

export class FrameGenerator {
  private readonly rnd: () => number;
  private n = 0;

  constructor(
    seed: number,
    /** proxy names that exist (used so deep validation paths are reached) */
    private readonly proxies: string[],
  ) {
    this.rnd = seededRandom(seed);
  }

  private int(n: number): number {
    return Math.floor(this.rnd() * n);
  }

  private pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }

  /** A random JSON value, possibly nested, possibly hostile. */
  value(depth = 0): unknown {
    const r = this.int(depth > 3 ? 6 : 9);
    switch (r) {
      case 0:
        return this.pick(WEIRD_STRINGS);
      case 1:
        return this.pick(WEIRD_NUMBERS);
      case 2:
        return this.rnd() < 0.5;
      case 3:
        return null;
      case 4:
        return this.pick(this.proxies);
      case 5:
        return this.pick(["2g", "3g", "flaky", "clean", "nope", "blackhole"]);
      case 6:
        return Array.from({ length: this.int(4) }, () => this.value(depth + 1));
      default: {
        const o: Record<string, unknown> = {};
        for (let i = this.int(4); i > 0; i--) o[this.pick(FIELD_NAMES)] = this.value(depth + 1);
        return o;
      }
    }
  }

  private id(): unknown {
    const r = this.int(10);
    if (r < 6) return ++this.n;
    if (r < 8) return `s-${this.n++}`;
    return this.value(3); // may be a bad id type (object, array, boolean): error with id null
  }

  /** A request with a real method and garbage params (never able to delete or create a proxy). */
  private badParams(): FuzzFrame {
    const method = this.pick(METHOD_NAMES.filter((m) => m !== "proxy.delete" && m !== "proxy.create" && m !== "proxy.update" && m !== "agent.panic"));
    const params = this.value(1);
    const text = JSON.stringify({ jsonrpc: "2.0", id: this.id(), method, params });
    // garbage may happen to be valid (e.g. agent.info with {}): either answer is fine then
    return { kind: "params", text, bad: false };
  }

  private wrongTypes(): FuzzFrame {
    const cases: [string, Record<string, unknown>][] = [
      ["impair.apply", { proxy: this.pick(this.proxies), ttl: this.pick([-1, "NaN", "1e999ms", "-5s", 1e308, "25d", true, [], {}]) }],
      ["impair.apply", { proxy: this.pick(this.proxies), percent: this.pick([-1, 101, "NaN", "abc", 1e308, -0.0001, [], "150%"]), profile: "2g" }],
      ["impair.apply", { proxy: this.pick(this.proxies), clients: this.pick(["10.0.0.0/8", [1], ["10.0.0.0/33"], ["::1/129"], [null], [{}]]) }],
      ["impair.apply", { proxy: this.pick(this.proxies), set: { [this.pick(FIELD_NAMES)]: this.pick(["NaN", "-1ms", "1e999", "💥", -5, 1e308, "25d", "101%"]) } }],
      ["impair.apply", { proxy: this.pick(this.proxies), spec: { down: { bandwidth: this.pick(["NaN", "-1Mbps", "10 mbps", "1e999bps", -1, "💥"]) } } }],
      ["impair.apply", { proxy: this.pick(this.proxies), spec: { stall: { every: "1s", duration: this.pick(["2s", "1s", "-1s", "NaN"]) } } }],
      ["impair.apply", { proxy: this.pick(["", "nope", "\u0000", "*x", 5, null, [], {}]) , profile: "2g" }],
      ["impair.apply", { proxy: this.pick(this.proxies), profile: this.pick(["nope", "", "\u0000", "../2g", "2G", 7, {}]) }],
      ["impair.clear", { proxy: this.pick(["nope", "", 0, null, ["*"], {}]) }],
      ["proxy.create", { name: this.pick(WEIRD_STRINGS.slice(0, 14)), listen: "127.0.0.1:0", upstream: "127.0.0.1:1" }],
      ["proxy.create", { name: "ok-name", listen: this.pick(["127.0.0.1:99999", "nope", "", ":", "[::1:1", 5]), upstream: "127.0.0.1:1" }],
      ["proxy.create", { name: "ok-name", listen: "127.0.0.1:0", upstream: "127.0.0.1:1", maxConnections: this.pick([-1, 1.5, "5", -1e308, Number.NaN, null]) }],
      ["proxy.update", { name: this.pick(["nope", "", 1, null]), enabled: false }],
      ["proxy.update", { name: this.pick(this.proxies), enabled: this.pick(["false", 0, null, []]) }],
      ["proxy.update", { name: this.pick(this.proxies), upstream: this.pick(["", "x", "127.0.0.1:0x", 1, "127.0.0.1:70000"]) }],
      ["proxy.delete", { name: this.pick(["nope", "", 1, null, "*", "\u0000"]) }],
      ["conn.reset", { proxy: this.pick(this.proxies), id: this.pick(["nope", "", 1, null, {}]) }],
      ["profile.get", { name: this.pick(["nope", "", 1, null, "__proto__", "constructor", "toString"]) }],
      ["profile.define", { spec: this.pick([{ name: "clean" }, { name: "loop", extends: "loop" }, { name: "\u0000" }, { name: "x", down: { delay: "NaN" } }, { name: "y", extends: "nope" }, [], "2g", null]) }],
      ["events.subscribe", { topics: this.pick([["nope"], "stats", [], [1], null]), intervalMs: this.pick([-1, 0, 1e308, "1000", null]) }],
      ["agent.info", { unexpected: this.value(2) }],
      ["agent.panic", { unexpected: 1 }],
    ];
    const [method, params] = this.pick(cases);
    // some of these are valid by chance (e.g. topics [] with intervalMs null): judged by the reply
    const sometimesValid = method === "events.subscribe" || method === "conn.reset";
    return { kind: "types", text: JSON.stringify({ jsonrpc: "2.0", id: this.id(), method, params }), bad: !sometimesValid };
  }

  private shape(): FuzzFrame {
    const id = ++this.n;
    const texts = [
      JSON.stringify(this.value(1)),
      JSON.stringify({ id, method: "agent.info" }),
      JSON.stringify({ jsonrpc: "1.0", id, method: "agent.info" }),
      JSON.stringify({ jsonrpc: 2, id, method: "agent.info" }),
      JSON.stringify({ jsonrpc: "2.0", id, method: this.pick([5, null, [], {}, true]) }),
      JSON.stringify({ jsonrpc: "2.0", id, method: "agent.info", params: this.pick([[], "x", 5, true]) }),
      JSON.stringify({ jsonrpc: "2.0", id: this.pick([{}, [], true, false]), method: "agent.info" }),
      `{"jsonrpc":"2.0","id":${this.pick(RAW_NUMBERS)},"method":"${this.pick(["agent.info", "nope"])}","params":{"x":${this.pick(RAW_NUMBERS)}}}`,
      "[]",
      JSON.stringify(Array.from({ length: 101 + this.int(50) }, (_, i) => ({ jsonrpc: "2.0", id: i, method: "agent.info" }))),
      JSON.stringify([1, "x", null, { jsonrpc: "2.0", id, method: "nope" }]),
      "null",
      "0",
      '"a string"',
      "true",
    ];
    const i = this.int(texts.length);
    // every one of these is wrong somewhere: a batch answers each member, with errors for the bad ones
    return { kind: "shape", text: texts[i]!, bad: true };
  }

  private unknownMethod(): FuzzFrame {
    const method = this.rnd() < 0.6 ? this.pick(WEIRD_STRINGS) : `${this.pick(METHOD_NAMES)}${this.pick([".x", "\u0000", " ", "s", "\u202e"])}`;
    return { kind: "method", text: JSON.stringify({ jsonrpc: "2.0", id: this.id(), method, params: {} }), bad: true };
  }

  private invalidJson(): FuzzFrame {
    const valid = JSON.stringify({ jsonrpc: "2.0", id: ++this.n, method: "impair.apply", params: { proxy: this.pick(this.proxies), profile: "3g" } });
    const texts = [
      valid.slice(0, 1 + this.int(valid.length - 2)),
      valid.replace(/"/g, "'"),
      valid + "}",
      valid.replace(":", ""),
      "{",
      "[1,",
      '{"a":}',
      "NaN",
      "{jsonrpc: '2.0'}",
      "\u0000\u0001\u0002",
      "\ufeff" + valid,
      '{"a":"\\u12"}',
      '{"a":"\\x41"}',
      Array.from({ length: 1 + this.int(200) }, () => String.fromCharCode(this.int(0x3000))).join(""),
      "",
      " ",
    ];
    return { kind: "json", text: this.pick(texts), bad: true };
  }

  private deep(): FuzzFrame {
    const depth = 33 + this.int(this.rnd() < 0.8 ? 100 : 20_000);
    const open = this.rnd() < 0.5 ? "[" : '{"a":';
    const close = open === "[" ? "]" : "}";
    const inner = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "agent.info" });
    // brackets inside a string do not nest: this one is shallow, parsed, and answered not-found
    if (this.rnd() < 0.1) return { kind: "deep-string", text: JSON.stringify({ jsonrpc: "2.0", id: ++this.n, method: "profile.get", params: { name: "[{".repeat(depth) } }), bad: true };
    return { kind: "deep", text: open.repeat(depth) + inner + close.repeat(depth), bad: true };
  }

  private validRequest(): FuzzFrame {
    const method = this.pick(["agent.info", "proxy.list", "profile.list", "conn.list"] as const);
    const params = method === "conn.list" ? { proxy: this.pick(this.proxies) } : undefined;
    return { kind: "valid", text: JSON.stringify({ jsonrpc: "2.0", id: ++this.n, method, ...(params ? { params } : {}) }), bad: false };
  }

  next(): FuzzFrame {
    const r = this.int(100);
    if (r < 20) return this.badParams();
    if (r < 40) return this.wrongTypes();
    if (r < 55) return this.shape();
    if (r < 67) return this.unknownMethod();
    if (r < 85) return this.invalidJson();
    if (r < 92) return this.deep();
    return this.validRequest();
  }
}
