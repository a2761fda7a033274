// The Toxiproxy HTTP API against a real agent: every endpoint with its status codes, JSON shapes
// and error bodies, driven by the npm toxiproxy-node-client where it can, raw HTTP where the
// exact status or body matters.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { Toxiproxy, type ICreateToxicBody } from "toxiproxy-node-client";
import { startHarness, call, portOf, type Harness } from "./harness.js";
import { dial, roundTrip } from "../support/net.js";

let h: Harness;
let client: Toxiproxy;

before(async () => {
  h = await startHarness();
  client = new Toxiproxy(h.base);
});
after(async () => {
  await h.close();
});

function errorBody(reply: { json: unknown }): { error: string; status: number } {
  const body = reply.json as { error?: unknown; status?: unknown };
  assert.equal(typeof body.error, "string", `error body: ${JSON.stringify(reply.json)}`);
  assert.equal(typeof body.status, "number");
  return body as { error: string; status: number };
}

async function expectError(method: string, path: string, body: unknown, status: number, pattern: RegExp): Promise<void> {
  const r = await call(h.base, method, path, body);
  assert.equal(r.status, status, `${method} ${path}: ${r.text}`);
  const e = errorBody(r);
  assert.equal(e.status, status);
  assert.match(e.error, pattern);
}

function latency(name: string | undefined, ms: number, extra: Partial<ICreateToxicBody<unknown>> = {}): ICreateToxicBody<{ latency: number; jitter: number }> {
  return { ...(name ? { name } : {}), type: "latency", attributes: { latency: ms, jitter: 0 }, ...extra } as ICreateToxicBody<{ latency: number; jitter: number }>;
}

test("GET /version answers 200 with a JSON version", async () => {
  const r = await call(h.base, "GET", "/version");
  assert.equal(r.status, 200);
  const body = r.json as { version: string; netimpair: string };
  assert.match(body.version, /^2\.\d+\.\d+$/);
  assert.equal(typeof body.netimpair, "string");
  assert.match(await client.getVersion(), /"version"/);
});

test("POST /proxies creates (201), normalises listen to the bound address, and relays", async () => {
  const raw = await call(h.base, "POST", "/proxies", { name: "created", listen: "localhost:0", upstream: h.echo.address });
  assert.equal(raw.status, 201, raw.text);
  const body = raw.json as { name: string; listen: string; upstream: string; enabled: boolean; toxics: unknown[] };
  assert.equal(body.name, "created");
  assert.match(body.listen, /^127\.0\.0\.1:\d+$/);
  assert.notEqual(portOf(body.listen), 0);
  assert.equal(body.upstream, h.echo.address);
  assert.equal(body.enabled, true);
  assert.deepEqual(body.toxics, []);
  const s = await dial(portOf(body.listen));
  assert.ok((await roundTrip(s)) < 1000);
  s.destroy();
  // the same proxy is the agent's proxy (the control channel sees it)
  assert.equal(h.agent.agent.has("created"), true);

  const viaClient = await client.createProxy({ name: "by-client", listen: "127.0.0.1:0", upstream: h.echo.address });
  assert.equal(viaClient.name, "by-client");
  assert.notEqual(portOf(viaClient.listen), 0);
});

test("POST /proxies errors: 409 name taken, 400 missing or bad fields, 400 bad JSON", async () => {
  await call(h.base, "POST", "/proxies", { name: "dup", listen: "127.0.0.1:0", upstream: h.echo.address });
  await expectError("POST", "/proxies", { name: "dup", listen: "127.0.0.1:0", upstream: h.echo.address }, 409, /proxy already exists/);
  await expectError("POST", "/proxies", { listen: "127.0.0.1:0", upstream: h.echo.address }, 400, /missing required field: name/);
  await expectError("POST", "/proxies", { name: "no-up", listen: "127.0.0.1:0" }, 400, /missing required field: upstream/);
  await expectError("POST", "/proxies", "{not json", 400, /bad request body/);
  await expectError("POST", "/proxies", { name: "x", upstream: h.echo.address, enabled: "yes" }, 400, /enabled must be true or false, got "yes"/);
  await expectError("POST", "/proxies", { name: "x", upstream: "nohostport" }, 400, /upstream: expected HOST:PORT, got "nohostport"/);
  await expectError("POST", "/proxies", { name: "x", listen: "127.0.0.1:99999", upstream: h.echo.address }, 400, /listen: port must be 0-65535/);
  // a port already in use is a conflict
  const taken = (await call(h.base, "GET", "/proxies/dup")).json as { listen: string };
  await expectError("POST", "/proxies", { name: "steal", listen: taken.listen, upstream: h.echo.address }, 409, /already in use/);
  assert.equal(h.agent.agent.has("x"), false);
  await assert.rejects(client.createProxy({ name: "dup", listen: "127.0.0.1:0", upstream: h.echo.address }), /409/);
});

test("GET /proxies lists every proxy by name with its toxics; GET /proxies/{name} shows one or 404", async () => {
  await client.createProxy({ name: "listed", listen: "127.0.0.1:0", upstream: h.echo.address });
  const all = await call(h.base, "GET", "/proxies");
  assert.equal(all.status, 200);
  const map = all.json as Record<string, { name: string; toxics: unknown[] }>;
  assert.equal(map.listed?.name, "listed");
  assert.deepEqual(map.listed?.toxics, []);
  const proxies = await client.getAll();
  assert.ok(proxies.listed);

  const one = await client.get("listed");
  assert.equal(one.name, "listed");
  assert.equal(one.upstream, h.echo.address);
  await expectError("GET", "/proxies/nope", undefined, 404, /proxy not found/);
  await assert.rejects(client.get("nope"), /404/);
});

test("POST and PATCH /proxies/{name} update partially: disable, enable, move listen, change upstream", async () => {
  const p = await client.createProxy({ name: "upd", listen: "127.0.0.1:0", upstream: h.echo.address });
  const port = portOf(p.listen);
  await p.addToxic(latency("kept", 1));

  const off = await call(h.base, "POST", "/proxies/upd", { enabled: false });
  assert.equal(off.status, 200, off.text);
  assert.equal((off.json as { enabled: boolean }).enabled, false);
  assert.equal((off.json as { upstream: string }).upstream, h.echo.address, "fields not given are kept");
  await assert.rejects(dial(port), /ECONNREFUSED/);

  const on = await call(h.base, "PATCH", "/proxies/upd", { enabled: true });
  assert.equal(on.status, 200);
  assert.equal((on.json as { enabled: boolean }).enabled, true);
  (await dial(port)).destroy();

  const moved = await call(h.base, "PATCH", "/proxies/upd", { listen: "127.0.0.1:0" });
  assert.equal(moved.status, 200, moved.text);
  const movedBody = moved.json as { listen: string; toxics: { name: string }[] };
  assert.notEqual(portOf(movedBody.listen), port);
  assert.deepEqual(
    movedBody.toxics.map((t) => t.name),
    ["kept"],
    "toxics survive a listen change",
  );
  const s = await dial(portOf(movedBody.listen));
  await roundTrip(s);
  s.destroy();

  // a listen address in use: 409, and the proxy stays where it was, toxics and all
  const other = await client.createProxy({ name: "upd-other", listen: "127.0.0.1:0", upstream: h.echo.address });
  await expectError("PATCH", "/proxies/upd", { listen: other.listen }, 409, /already in use/);
  const stayed = (await call(h.base, "GET", "/proxies/upd")).json as { listen: string; toxics: unknown[] };
  assert.equal(stayed.listen, movedBody.listen);
  assert.equal(stayed.toxics.length, 1);
  (await dial(portOf(stayed.listen))).destroy();

  const viaClient = await p.update({ upstream: "127.0.0.1:1" } as Parameters<typeof p.update>[0]);
  assert.equal(viaClient.upstream, "127.0.0.1:1");
  await expectError("PATCH", "/proxies/upd", { enabled: 1 }, 400, /enabled must be true or false, got 1/);
  await expectError("PATCH", "/proxies/upd", { upstream: "bad" }, 400, /upstream/);
  await expectError("PATCH", "/proxies/missing", { enabled: true }, 404, /proxy not found/);
});

test("DELETE /proxies/{name} answers 204, then 404; the listener is gone", async () => {
  const p = await client.createProxy({ name: "del", listen: "127.0.0.1:0", upstream: h.echo.address });
  const r = await call(h.base, "DELETE", "/proxies/del");
  assert.equal(r.status, 204);
  assert.equal(r.text, "");
  await assert.rejects(dial(portOf(p.listen)), /ECONNREFUSED/);
  await expectError("DELETE", "/proxies/del", undefined, 404, /proxy not found/);
  const again = await client.createProxy({ name: "del2", listen: "127.0.0.1:0", upstream: h.echo.address });
  await again.remove();
  assert.equal(h.agent.agent.has("del2"), false);
});

test("POST /proxies/{name}/toxics answers 200 with Toxiproxy's defaults; errors 400/404/409", async () => {
  const p = await client.createProxy({ name: "tox", listen: "127.0.0.1:0", upstream: h.echo.address });
  const raw = await call(h.base, "POST", "/proxies/tox/toxics", { type: "latency", attributes: { latency: 10 } });
  assert.equal(raw.status, 200, raw.text);
  assert.deepEqual(raw.json, { name: "latency_downstream", type: "latency", stream: "downstream", toxicity: 1, attributes: { latency: 10, jitter: 0 } });

  const up = await p.addToxic({ type: "bandwidth", stream: "upstream", toxicity: 0.5, attributes: { rate: 100 } } as ICreateToxicBody<{ rate: number }>);
  assert.equal(up.name, "bandwidth_upstream");
  assert.equal(up.stream, "upstream");
  assert.equal(up.toxicity, 0.5);
  assert.deepEqual(up.attributes, { rate: 100 });

  await expectError("POST", "/proxies/tox/toxics", { type: "latency", attributes: { latency: 10 } }, 409, /toxic already exists/);
  await expectError("POST", "/proxies/tox/toxics", { type: "nosuch" }, 400, /invalid toxic type: "nosuch"/);
  await expectError("POST", "/proxies/tox/toxics", { type: "latency", name: "s", stream: "sideways" }, 400, /stream was invalid.*"sideways"/);
  await expectError("POST", "/proxies/tox/toxics", { type: "latency", name: "a", attributes: { latency: -5 } }, 400, /attributes\.latency must be at least 0.*got -5/);
  await expectError("POST", "/proxies/tox/toxics", { type: "latency", name: "b", attributes: { latency: "5ms" } }, 400, /attributes\.latency must be a number.*"5ms"/);
  await expectError("POST", "/proxies/tox/toxics", { type: "latency", name: "c", attributes: { latnecy: 5 } }, 400, /unknown attribute "latnecy"/);
  await expectError("POST", "/proxies/tox/toxics", { type: "latency", name: "d", toxicity: 1.5 }, 400, /toxicity must be a number from 0 to 1 .*got 1\.5/);
  await expectError("POST", "/proxies/tox/toxics", { type: "slicer", name: "e", attributes: { average_size: 10, size_variation: -1 } }, 400, /attributes\.size_variation must be at least 0/);
  await expectError("POST", "/proxies/tox/toxics", [1, 2], 400, /bad request body/);
  await expectError("POST", "/proxies/ghost/toxics", { type: "latency" }, 404, /proxy not found/);
  await assert.rejects(p.addToxic(latency(undefined, 5)), /409/);
});

test("GET toxics lists upstream toxics first; GET one, 404 for unknown toxic or proxy", async () => {
  const p = await client.createProxy({ name: "order", listen: "127.0.0.1:0", upstream: h.echo.address });
  await p.addToxic(latency("down1", 1));
  await p.addToxic(latency("up1", 1, { stream: "upstream" }));
  await p.addToxic(latency("down2", 1));
  const list = await call(h.base, "GET", "/proxies/order/toxics");
  assert.equal(list.status, 200);
  assert.deepEqual(
    (list.json as { name: string }[]).map((t) => t.name),
    ["up1", "down1", "down2"],
  );
  const shown = (await call(h.base, "GET", "/proxies/order")).json as { toxics: { name: string }[] };
  assert.equal(shown.toxics.length, 3);

  const one = await p.getToxic<{ latency: number }>("up1");
  assert.equal(one.stream, "upstream");
  assert.equal(one.attributes.latency, 1);
  await expectError("GET", "/proxies/order/toxics/nope", undefined, 404, /toxic not found/);
  await expectError("GET", "/proxies/ghost/toxics", undefined, 404, /proxy not found/);
  await expectError("GET", "/proxies/ghost/toxics/up1", undefined, 404, /proxy not found/);
});

test("POST and PATCH on a toxic update attributes and toxicity partially; DELETE answers 204 then 404", async () => {
  const p = await client.createProxy({ name: "tupd", listen: "127.0.0.1:0", upstream: h.echo.address });
  const t = await p.addToxic(latency("lat", 40));
  const patched = await call(h.base, "PATCH", "/proxies/tupd/toxics/lat", { attributes: { jitter: 5 } });
  assert.equal(patched.status, 200, patched.text);
  assert.deepEqual((patched.json as { attributes: unknown }).attributes, { latency: 40, jitter: 5 });
  const viaClient = await t.update({ toxicity: 0.25 } as Parameters<typeof t.update>[0]);
  assert.equal(viaClient.toxicity, 0.25);
  assert.deepEqual(viaClient.attributes, { latency: 40, jitter: 5 });
  // type, stream and name do not change by update: asking for a change is a 400 (Toxiproxy ignores it; strict-fields.test.ts)
  await expectError("POST", "/proxies/tupd/toxics/lat", { stream: "upstream", type: "bandwidth" }, 400, /type cannot be changed by an update/);
  assert.equal(((await call(h.base, "GET", "/proxies/tupd/toxics/lat")).json as { type: string }).type, "latency");

  await expectError("PATCH", "/proxies/tupd/toxics/lat", { attributes: { jitter: 1.5 } }, 400, /attributes\.jitter must be a whole number/);
  await expectError("PATCH", "/proxies/tupd/toxics/nope", { attributes: {} }, 404, /toxic not found/);
  const del = await call(h.base, "DELETE", "/proxies/tupd/toxics/lat");
  assert.equal(del.status, 204);
  await expectError("DELETE", "/proxies/tupd/toxics/lat", undefined, 404, /toxic not found/);
  const again = await p.addToxic(latency("lat", 1));
  await again.remove();
  assert.deepEqual((await call(h.base, "GET", "/proxies/tupd/toxics")).json, []);
});

test("POST /populate creates (201), keeps unchanged proxies, replaces changed ones, checks everything first", async () => {
  const first = await call(h.base, "POST", "/populate", [
    { name: "pop-a", listen: "127.0.0.1:0", upstream: h.echo.address },
    { name: "pop-b", listen: "127.0.0.1:0", upstream: h.echo.address, enabled: false },
  ]);
  assert.equal(first.status, 201, first.text);
  const proxies = (first.json as { proxies: { name: string; listen: string; enabled: boolean }[] }).proxies;
  assert.deepEqual(
    proxies.map((p) => [p.name, p.enabled]),
    [
      ["pop-a", true],
      ["pop-b", false],
    ],
  );
  const a = proxies[0]!;
  await client.get("pop-a").then((p) => p.addToxic(latency("stay", 1)));

  // same listen and upstream: kept with its toxics; different upstream: replaced
  const second = await client.populate([
    { name: "pop-a", listen: a.listen, upstream: h.echo.address },
    { name: "pop-b", listen: "127.0.0.1:0", upstream: "127.0.0.1:1" },
  ]);
  assert.equal(second["pop-a"]?.listen, a.listen);
  assert.equal(second["pop-b"]?.upstream, "127.0.0.1:1");
  assert.deepEqual(
    ((await call(h.base, "GET", "/proxies/pop-a/toxics")).json as { name: string }[]).map((t) => t.name),
    ["stay"],
  );

  // one bad entry: 400 and nothing changes
  const bad = await call(h.base, "POST", "/populate", [
    { name: "pop-c", listen: "127.0.0.1:0", upstream: h.echo.address },
    { name: "pop-d", listen: "127.0.0.1:0" },
  ]);
  assert.equal(bad.status, 400);
  assert.match(errorBody(bad).error, /missing required field: upstream at proxy 2/);
  assert.equal(h.agent.agent.has("pop-c"), false);
  await expectError("POST", "/populate", { name: "not-an-array" }, 400, /expected a JSON array/);
  await expectError("POST", "/populate", [{ name: "z", upstream: h.echo.address }, { name: "z", upstream: h.echo.address }], 400, /duplicate proxy name "z"/);
});

test("POST /reset removes every toxic and enables every proxy (204)", async () => {
  const p = await client.createProxy({ name: "rst", listen: "127.0.0.1:0", upstream: h.echo.address });
  await p.addToxic(latency("l1", 1));
  await call(h.base, "POST", "/proxies/rst", { enabled: false });
  const r = await call(h.base, "POST", "/reset");
  assert.equal(r.status, 204);
  const after = (await call(h.base, "GET", "/proxies/rst")).json as { enabled: boolean; toxics: unknown[] };
  assert.equal(after.enabled, true);
  assert.deepEqual(after.toxics, []);
  (await dial(portOf(p.listen))).destroy();
  await client.reset();
});

test("wrong method 405, unknown sub-path 404, browsers 403; all with Toxiproxy's error body", async () => {
  await client.createProxy({ name: "misc", listen: "127.0.0.1:0", upstream: h.echo.address });
  await expectError("PUT", "/proxies", {}, 405, /method PUT not allowed/);
  await expectError("DELETE", "/version", undefined, 405, /not allowed/);
  await expectError("GET", "/reset", undefined, 405, /not allowed/);
  await expectError("GET", "/proxies/misc/other", undefined, 404, /no such path/);
  await expectError("GET", "/proxies/misc/toxics/a/b", undefined, 404, /no such path/);
  const browser = await call(h.base, "GET", "/proxies", undefined, { "User-Agent": "Mozilla/5.0" });
  assert.equal(browser.status, 403);
});

test("a proxy deleted over the control channel takes its toxics with it", async () => {
  const p = await client.createProxy({ name: "gone", listen: "127.0.0.1:0", upstream: h.echo.address });
  await p.addToxic(latency("l", 1));
  await h.agent.agent.deleteProxy("gone");
  await expectError("GET", "/proxies/gone/toxics", undefined, 404, /proxy not found/);
  await client.createProxy({ name: "gone", listen: "127.0.0.1:0", upstream: h.echo.address });
  assert.deepEqual((await call(h.base, "GET", "/proxies/gone/toxics")).json, []);
});

test("API calls stay quick while proxies carry traffic and many calls run at once", async () => {
  const p = await client.createProxy({ name: "busy", listen: "127.0.0.1:0", upstream: h.echo.address });
  await p.addToxic({ type: "bandwidth", attributes: { rate: 0 } } as ICreateToxicBody<{ rate: number }>);
  // connections whose downstream is held (bandwidth 0) must not hold up the API
  const socks = await Promise.all(Array.from({ length: 20 }, () => dial(portOf(p.listen))));
  for (const s of socks) s.write(Buffer.alloc(64 * 1024, 1));
  const t0 = performance.now();
  const replies = await Promise.all(Array.from({ length: 100 }, (_, i) => call(h.base, i % 2 ? "GET" : "POST", i % 2 ? "/proxies" : "/proxies/busy/toxics", i % 2 ? undefined : latency(`c${i}`, 1))));
  const elapsed = performance.now() - t0;
  assert.ok(replies.every((r) => r.status === 200), replies.find((r) => r.status !== 200)?.text);
  assert.ok(elapsed < 5000, `100 concurrent API calls took ${elapsed.toFixed(0)} ms`);
  for (const s of socks) s.destroy();
});

test("POST /proxies without listen picks a free loopback port (listen is optional, as documented)", async () => {
  const r = await call(h.base, "POST", "/proxies", { name: "no-listen", upstream: h.echo.address });
  assert.equal(r.status, 201, r.text);
  const listen = (r.json as { listen: string }).listen;
  assert.match(listen, /^127\.0\.0\.1:\d+$/);
  assert.notEqual(portOf(listen), 0);
  const s = await dial(portOf(listen));
  assert.ok((await roundTrip(s)) < 1000, "it serves");
  s.destroy();
  assert.equal((await call(h.base, "DELETE", "/proxies/no-listen")).status, 204);
});
