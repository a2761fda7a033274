// Faults in the answer on an http proxy (truncate, malform, throttle, rateLimit) felt by real
// clients: node http with a keep-alive Agent, fetch (undici), axios, curl and an EventSource
// client. The server counts every request it handles: the request reaches it every time for
// truncate, malform and throttle, never for a request over a rateLimit's budget.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { execFile } from "node:child_process";
import http from "node:http";
import zlib from "node:zlib";
import type { AddressInfo, Socket } from "node:net";
import axios from "axios";
import { EventSource } from "eventsource";
import { describeError, failureOf, measured, startProxyRig, type ProxyRig } from "./rig.js";

const BIG = 1_000_000;

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  socket: Socket;
}

describe("HTTP/1.1 faults in the answer (protocol: http)", () => {
  let rig: ProxyRig;
  let server: http.Server;
  /** requests the server handled, by path */
  const seen: string[] = [];
  const agents: http.Agent[] = [];
  const base = (): string => `http://127.0.0.1:${rig.port}`;

  function keepAlive(): http.Agent {
    const a = new http.Agent({ keepAlive: true, maxSockets: 1 });
    agents.push(a);
    return a;
  }

  function request(agent: http.Agent | false, path: string, headers: Record<string, string> = {}): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const req = http.get({ host: "127.0.0.1", port: rig.port, path, agent, headers }, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (body += c));
        res.on("error", reject);
        res.on("aborted", () => reject(new Error(`aborted after ${body.length} bytes`)));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, socket: req.socket as Socket }));
      });
      req.on("error", reject);
    });
  }

  function curl(path: string): Promise<{ code: number; stderr: string; bytes: number }> {
    return new Promise((resolve) => {
      execFile("curl", ["-sS", "-o", "/dev/null", "-w", "%{size_download}", `${base()}${path}`], (err, stdout, stderr) => {
        resolve({ code: err ? Number((err as { code?: number }).code ?? -1) : 0, stderr, bytes: Number(stdout) });
      });
    });
  }

  async function withRules(rules: unknown[], fn: () => Promise<void>): Promise<void> {
    await rig.apply(undefined, { spec: { requests: rules } });
    try {
      await fn();
    } finally {
      await rig.clear();
    }
  }

  async function outcome(name: "truncated" | "malformed" | "throttled" | "limited"): Promise<number> {
    return (await rig.ctl.proxies()).find((p) => p.name === "web")!.stats.requests[name];
  }

  function count(path: string): number {
    return seen.filter((s) => s === path).length;
  }

  before(async () => {
    const json = JSON.stringify({ items: Array.from({ length: 50 }, (_, i) => ({ id: i, name: `item ${i}` })) });
    server = http.createServer((req, res) => {
      const url = req.url ?? "/";
      seen.push(url);
      if (url.startsWith("/json")) {
        res.setHeader("content-type", "application/json");
        res.end(json);
      } else if (url.startsWith("/gzip")) {
        res.setHeader("content-type", "application/json");
        res.setHeader("content-encoding", "gzip");
        res.end(zlib.gzipSync(json));
      } else if (url.startsWith("/chunked")) {
        res.setHeader("content-type", "application/json");
        res.write(json.slice(0, 500));
        setTimeout(() => res.end(json.slice(500)), 20);
      } else if (url.startsWith("/big")) {
        res.setHeader("content-type", "application/octet-stream");
        res.end(Buffer.alloc(BIG, 7));
      } else if (url.startsWith("/events")) {
        res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
        res.write(": a comment, not an event\n\n");
        let i = 0;
        const t = setInterval(() => {
          res.write(`id: ${i}\nevent: token\ndata: {"n": ${i}}\n\n`);
          if (++i === 10) {
            clearInterval(t);
            res.end();
          }
        }, 10);
        res.on("close", () => clearInterval(t));
      } else res.end(`ok ${url}`);
    });
    server.keepAliveTimeout = 30_000;
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    rig = await startProxyRig("web", `127.0.0.1:${(server.address() as AddressInfo).port}`, "http");
  });

  after(async () => {
    for (const a of agents) a.destroy();
    if (rig) await rig.close();
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  test("truncate: node http, fetch, axios and curl see a Content-Length body end early; the server did the work", async (t) => {
    await withRules([{ match: { path: "/json" }, truncate: 100 }], async () => {
      const before = count("/json");
      const truncated = await outcome("truncated");
      const n = await failureOf(request(false, "/json"), 5000, "node http");
      measured(t, `node http: ${describeError(n.error)}`);
      assert.match(n.error.message, /aborted after 100 bytes|aborted/);
      const f = await failureOf(
        fetch(`${base()}/json`).then((r) => r.text()),
        5000,
        "fetch",
      );
      measured(t, `fetch (undici): ${describeError(f.error)} (cause ${describeError((f.error.cause as Error | undefined) ?? f.error)})`);
      assert.match(f.error.message, /terminated/);
      const a = await failureOf(axios.get(`${base()}/json`, { responseType: "text" }), 5000, "axios");
      measured(t, `axios: ${describeError(a.error)}`);
      const c = await curl("/json");
      measured(t, `curl: exit ${c.code}, ${c.stderr.trim()}`);
      assert.equal(c.code, 18, "curl: partial file");
      assert.equal(c.bytes, 100);
      assert.equal(count("/json") - before, 4, "every request reached the server");
      assert.equal((await outcome("truncated")) - truncated, 4);
    });
  });

  test("truncate: a chunked body ends early for node http, fetch and curl", async (t) => {
    await withRules([{ match: { path: "/chunked" }, truncate: "300B" }], async () => {
      const before = count("/chunked");
      const n = await failureOf(request(false, "/chunked"), 5000, "node http");
      measured(t, `node http, chunked: ${describeError(n.error)}`);
      const f = await failureOf(
        fetch(`${base()}/chunked`).then((r) => r.text()),
        5000,
        "fetch",
      );
      assert.match(f.error.message, /terminated/);
      const c = await curl("/chunked");
      measured(t, `curl, chunked: exit ${c.code}, ${c.stderr.trim()}`);
      assert.notEqual(c.code, 0);
      assert.equal(count("/chunked") - before, 3);
    });
  });

  test("truncate then reset: the client sees a reset connection", async (t) => {
    await withRules([{ match: { path: "/big" }, truncate: { after: "10KiB", then: "reset" } }], async () => {
      const before = count("/big");
      const n = await failureOf(request(false, "/big"), 5000, "node http");
      measured(t, `node http, reset: ${describeError(n.error)}`);
      assert.match(describeError(n.error), /ECONNRESET|aborted/);
      const f = await failureOf(
        fetch(`${base()}/big`).then((r) => r.arrayBuffer()),
        5000,
        "fetch",
      );
      measured(t, `fetch, reset: ${describeError(f.error)}`);
      assert.match(f.error.message, /terminated|fetch failed/);
      assert.equal(count("/big") - before, 2);
    });
  });

  test("keep-alive: answers around a truncated one stay in order; the truncated one ends its connection", async () => {
    await withRules([{ match: { path: "/json" }, truncate: 10 }], async () => {
      const agent = keepAlive();
      const a = await request(agent, "/a");
      const b = await request(agent, "/b");
      assert.equal(a.body, "ok /a");
      assert.equal(b.body, "ok /b");
      assert.equal(a.socket, b.socket, "intact answers keep their connection");
      const first = a.socket;
      await failureOf(request(agent, "/json"), 5000, "truncated");
      assert.ok(first.destroyed, "the truncated answer ended its connection");
      const c = await request(agent, "/c");
      assert.equal(c.body, "ok /c");
    });
  });

  test("malform: a well-framed body JSON.parse rejects, Content-Encoding dropped, keep-alive intact", async () => {
    const text = "<html><body>502 Bad Gateway</body></html>";
    await withRules([{ match: { path: "/json" }, malform: text }, { match: { path: "/gzip" }, malform: text }, { match: { path: "/chunked" }, malform: '{"items": [' }], async () => {
      const before = count("/json") + count("/gzip") + count("/chunked");
      const agent = keepAlive();
      const r = await request(agent, "/json");
      assert.equal(r.status, 200);
      assert.equal(r.body, text);
      assert.equal(r.headers["content-length"], String(text.length));
      assert.throws(() => JSON.parse(r.body), SyntaxError);
      const g = await request(agent, "/gzip");
      assert.equal(g.headers["content-encoding"], undefined);
      assert.equal(g.body, text);
      const ch = await request(agent, "/chunked");
      assert.equal(ch.headers["transfer-encoding"], undefined);
      assert.equal(ch.body, '{"items": [');
      assert.equal(r.socket, ch.socket, "the connection stays usable");
      const after = await request(agent, "/after");
      assert.equal(after.body, "ok /after");
      // fetch and axios: the body arrives whole, parsing it fails
      await assert.rejects(fetch(`${base()}/gzip`).then((x) => x.json()), SyntaxError);
      const ax = await axios.get(`${base()}/json`, { responseType: "json", transitional: { silentJSONParsing: false } }).catch((e: Error) => e);
      assert.ok(ax instanceof Error, "axios fails to parse");
      // by default axios hands the unparsed text back as data
      const quiet = await axios.get(`${base()}/json`);
      assert.equal(quiet.data, text);
      assert.equal(count("/json") + count("/gzip") + count("/chunked") - before, 6);
      assert.equal(await outcome("malformed"), 6);
    });
  });

  test("throttle: a 1 MB body takes its time, its head arrives at once", async (t) => {
    // 4 Mbps = 500 kB/s: 1 MB in about 2 s
    await withRules([{ match: { path: "/big" }, throttle: "4Mbps" }], async () => {
      const before = count("/big");
      const t0 = performance.now();
      const res = await fetch(`${base()}/big`);
      const headMs = performance.now() - t0;
      const body = Buffer.from(await res.arrayBuffer());
      const totalMs = performance.now() - t0;
      measured(t, `throttle 4Mbps: head after ${headMs.toFixed(0)} ms, 1 MB after ${totalMs.toFixed(0)} ms (2000 expected)`);
      assert.equal(body.length, BIG);
      assert.ok(headMs < 500, `head after ${headMs} ms`);
      assert.ok(totalMs > 1700 && totalMs < 4000, `1 MB after ${totalMs} ms`);
      assert.equal(count("/big") - before, 1);
      assert.equal(await outcome("throttled"), 1);
      // the connection is fine afterwards, and others are not slowed
      const t1 = performance.now();
      const r = await request(false, "/quick");
      assert.equal(r.body, "ok /quick");
      assert.ok(performance.now() - t1 < 1000);
    });
  });

  test("truncate {events: 3}: an EventSource client gets exactly 3 events, then the stream ends", async () => {
    await withRules([{ match: { path: "/events" }, truncate: { events: 3 } }], async () => {
      const before = count("/events");
      const truncated = await outcome("truncated");
      const got: string[] = [];
      const es = new EventSource(`${base()}/events`);
      const ended = new Promise<void>((resolve) => {
        es.onerror = () => {
          es.close();
          resolve();
        };
      });
      es.addEventListener("token", (ev) => got.push(ev.data));
      await ended;
      assert.deepEqual(got, ['{"n": 0}', '{"n": 1}', '{"n": 2}']);
      assert.equal(count("/events") - before, 1);
      assert.equal((await outcome("truncated")) - truncated, 1);
    });
  });

  test("rateLimit: over the budget the agent answers 429 with Retry-After; within it requests pass", async () => {
    await withRules([{ match: { path: "/limited*" }, rateLimit: { rate: "1/s", burst: 2 } }], async () => {
      const before = count("/limited");
      const agent = keepAlive();
      const a = await request(agent, "/limited");
      const b = await request(agent, "/limited");
      const c = await request(agent, "/limited");
      assert.deepEqual([a.status, b.status, c.status], [200, 200, 429]);
      assert.equal(c.headers["retry-after"], "1");
      assert.equal(count("/limited") - before, 2, "the limited request never reached the server");
      const d = await request(agent, "/other");
      assert.equal(d.status, 200, "other paths pass");
      assert.equal(await outcome("limited"), 1);
      // axios sees a 429 it can retry on
      const ax = await axios.get(`${base()}/limited`, { validateStatus: () => true });
      assert.equal(ax.status, 429);
      assert.ok(Number(ax.headers["retry-after"]) >= 1);
      const rejected = await axios.get(`${base()}/limited`).catch((e: unknown) => e);
      assert.ok(axios.isAxiosError(rejected));
      assert.equal(rejected.code, "ERR_BAD_REQUEST");
      assert.equal(rejected.response?.status, 429);
    });
  });

  test("rateLimit: a steady and a bursty sender get the budget over time, within one token", async (t) => {
    // 10/s with a burst of 5: over T seconds at most 5 + 10*T pass
    await withRules([{ match: { path: "/steady" }, rateLimit: { rate: "10/s", burst: 5, per: "header:x-key" } }, { match: { path: "/bursty" }, rateLimit: { rate: "10/s", burst: 5, per: "header:x-key" } }], async () => {
      const agent = keepAlive();
      const agent2 = keepAlive();
      // the bucket's clock runs from the first request's arrival to the last one's: between the
      // first answer and the last request's start at least, between the first start and the last answer at most
      const run = async (path: string, key: string, a: http.Agent, pause: (i: number) => number): Promise<{ passed: number; least: number; most: number }> => {
        let passed = 0;
        const t0 = performance.now();
        let firstEnd = 0;
        let lastStart = 0;
        let lastEnd = 0;
        for (let i = 0; performance.now() - t0 < 2000; i++) {
          lastStart = performance.now();
          const r = await request(a, path, { "x-key": key });
          lastEnd = performance.now();
          if (i === 0) firstEnd = lastEnd;
          if (r.status === 200) passed++;
          else assert.equal(r.status, 429);
          const p = pause(i);
          if (p > 0) await new Promise((res) => setTimeout(res, p));
        }
        return { passed, least: 5 + (10 * (lastStart - firstEnd)) / 1000, most: 5 + (10 * (lastEnd - t0)) / 1000 };
      };
      const [steady, bursty] = await Promise.all([
        run("/steady", "s", agent, () => 25),
        run("/bursty", "b", agent2, (i) => (i % 20 === 19 ? 300 : 0)),
      ]);
      for (const [name, r] of [["steady", steady], ["bursty", bursty]] as const) {
        measured(t, `${name}: ${r.passed} passed, budget ${r.least.toFixed(1)}..${r.most.toFixed(1)}`);
        assert.ok(r.passed <= r.most + 1 && r.passed >= r.least - 1, `${name}: ${r.passed} passed, budget ${r.least.toFixed(1)}..${r.most.toFixed(1)}`);
      }
    });
  });

  test("built-in http-partial-responses: about a tenth of answers end after 1 KiB", async (t) => {
    await rig.apply("http-partial-responses");
    try {
      const before = count("/json");
      let cut = 0;
      for (let i = 0; i < 200; i++) {
        const r = await request(false, "/json").then(
          (x) => x.body.length,
          () => -1,
        );
        if (r === -1) cut++;
        else assert.ok(r > 1024);
      }
      measured(t, `${cut} of 200 answers cut`);
      assert.ok(cut >= 6 && cut <= 40, `${cut} of 200`);
      assert.equal(count("/json") - before, 200);
    } finally {
      await rig.clear();
    }
  });

  test("built-in llm-stream-cut: some event streams end after 5 events, the rest whole; other answers pass", async (t) => {
    await rig.apply("llm-stream-cut");
    try {
      const lengths: number[] = [];
      for (let i = 0; i < 24; i++) {
        const es = new EventSource(`${base()}/events`);
        let n = 0;
        es.addEventListener("token", () => n++);
        await new Promise<void>((resolve) => {
          es.onerror = () => {
            es.close();
            resolve();
          };
        });
        lengths.push(n);
      }
      measured(t, `events per stream: ${lengths.join(" ")}`);
      assert.ok(lengths.every((n) => n === 5 || n === 10), lengths.join(" "));
      assert.ok(lengths.some((n) => n === 5) && lengths.some((n) => n === 10), lengths.join(" "));
      for (let i = 0; i < 10; i++) assert.equal((await request(false, "/json")).status, 200);
    } finally {
      await rig.clear();
    }
  });

  test("built-in api-rate-limited: a burst of 25 passes, then 429 with Retry-After", async () => {
    await rig.apply("api-rate-limited");
    try {
      const before = count("/r");
      const t0 = performance.now();
      const replies = await Promise.all(Array.from({ length: 50 }, () => request(false, "/r")));
      const ms = performance.now() - t0;
      const ok = replies.filter((r) => r.status === 200).length;
      const limited = replies.filter((r) => r.status === 429);
      // a token comes back every 40 ms: a few more than the burst may pass while the 50 run
      assert.ok(ok >= 25 && ok <= 25 + Math.ceil(ms / 40) + 1, `${ok} passed in ${ms.toFixed(0)} ms`);
      assert.equal(ok + limited.length, 50);
      assert.ok(limited.every((r) => r.headers["retry-after"] === "1"));
      assert.equal(count("/r") - before, ok);
    } finally {
      await rig.clear();
    }
  });

  test("answer faults are refused on other protocols, naming the field and the protocol", async () => {
    const pg = await startProxyRig("pg", "127.0.0.1:1", "postgres");
    try {
      for (const [rule, field] of [
        [{ match: {}, truncate: 100 }, "truncate"],
        [{ match: {}, malform: "x" }, "malform"],
        [{ match: {}, throttle: "1Mbps" }, "throttle"],
        [{ match: {}, rateLimit: { rate: "1/s" } }, "rateLimit"],
      ] as const) {
        const err = await pg.apply(undefined, { spec: { requests: [rule] } }).then(
          () => null,
          (e: Error) => e,
        );
        assert.ok(err, `${field} refused`);
        assert.match(err.message, new RegExp(`requests\\[0\\]\\.${field}`));
        assert.match(err.message, /postgres/);
      }
      const err = await rig.apply(undefined, { spec: { requests: [{ match: {}, truncate: { messages: 2 } }] } }).then(
        () => null,
        (e: Error) => e,
      );
      assert.match(String(err?.message), /http protocol cannot truncate by messages/);
      const bad = await rig.apply(undefined, { spec: { requests: [{ match: {}, rateLimit: { rate: "fast" } }] } }).then(
        () => null,
        (e: Error) => e,
      );
      assert.match(String(bad?.message), /rateLimit\.rate.*"fast"/);
    } finally {
      await pg.close();
    }
  });
});
