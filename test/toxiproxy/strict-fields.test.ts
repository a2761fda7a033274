// Unknown top-level fields on every body the Toxiproxy API reads are refused (400, Toxiproxy's
// {error, status} body naming the field), where Toxiproxy drops them silently; every field a
// real client sends (the Go client's whole proxy with its toxics, toxiproxy-node-client's
// toJson(), Toxiproxy.Net's PascalCase keys) still works. Real agent, real HTTP, real sockets.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { Toxiproxy, type ICreateToxicBody } from "toxiproxy-node-client";
import { startHarness, call, portOf, type Harness } from "./harness.js";
import { dial, roundTrip } from "../support/net.js";

let h: Harness;

before(async () => {
  h = await startHarness();
});
after(async () => {
  await h.close();
});

async function refused(method: string, path: string, body: unknown, message: string): Promise<void> {
  const r = await call(h.base, method, path, body);
  assert.equal(r.status, 400, `${method} ${path}: ${r.text}`);
  assert.deepEqual(r.json, { error: `bad request body: ${message}`, status: 400 });
}

async function proxy(name: string): Promise<{ name: string; listen: string; upstream: string; enabled: boolean; toxics: { name: string }[] }> {
  const r = await call(h.base, "POST", "/proxies", { name, listen: "127.0.0.1:0", upstream: h.echo.address });
  assert.equal(r.status, 201, r.text);
  return r.json as { name: string; listen: string; upstream: string; enabled: boolean; toxics: { name: string }[] };
}

test("POST /proxies/{name}/toxics with a misspelt field (attribtues) is refused and adds no toxic", async () => {
  await proxy("typo-toxic");
  await refused(
    "POST",
    "/proxies/typo-toxic/toxics",
    { name: "slow", type: "latency", attribtues: { latency: 500 } },
    'unknown field "attribtues" (known: name, type, stream, toxicity, attributes)',
  );
  assert.deepEqual((await call(h.base, "GET", "/proxies/typo-toxic/toxics")).json, []);
});

test("POST /proxies with a misspelt field (enabeld) is refused and creates no proxy", async () => {
  await refused(
    "POST",
    "/proxies",
    { name: "typo-proxy", listen: "127.0.0.1:0", upstream: h.echo.address, enabeld: false },
    'unknown field "enabeld" (known: name, listen, upstream, enabled, toxics)',
  );
  assert.equal((await call(h.base, "GET", "/proxies/typo-proxy")).status, 404);
});

test("PATCH and POST /proxies/{name} with an unknown field are refused and change nothing", async () => {
  const before = await proxy("bogus-update");
  for (const method of ["PATCH", "POST"]) {
    await refused(method, "/proxies/bogus-update", { bogus: 1 }, 'unknown field "bogus" (known: name, listen, upstream, enabled, toxics)');
    // a known field next to the unknown one is not applied either
    await refused(method, "/proxies/bogus-update", { enabled: false, bogus: 1 }, 'unknown field "bogus" (known: name, listen, upstream, enabled, toxics)');
  }
  assert.deepEqual((await call(h.base, "GET", "/proxies/bogus-update")).json, before);
  // a name in the body must be the proxy's own: an update cannot rename
  await refused("PATCH", "/proxies/bogus-update", { name: "renamed" }, 'name cannot be changed by an update (proxy "bogus-update", got "renamed"); create a proxy under the new name instead');
  await refused("PATCH", "/proxies/bogus-update", { toxics: "none" }, 'toxics must be a list (it is not read: toxics are added through /proxies/{name}/toxics), got "none"');
});

test("POST /populate with an unknown field in one entry is refused, naming the entry, and creates nothing", async () => {
  const r = await call(h.base, "POST", "/populate", [
    { name: "pop-ok", listen: "127.0.0.1:0", upstream: h.echo.address },
    { name: "pop-typo", listen: "127.0.0.1:0", upstream: h.echo.address, upstrem: "127.0.0.1:1" },
  ]);
  assert.equal(r.status, 400, r.text);
  assert.deepEqual(r.json, { error: 'bad request body: unknown field "upstrem" at proxy 2 (known: name, listen, upstream, enabled, toxics)', status: 400, proxies: [] });
  assert.equal(h.agent.agent.has("pop-ok"), false);
  assert.equal(h.agent.agent.has("pop-typo"), false);
});

test("POST and PATCH /proxies/{name}/toxics/{toxic} with an unknown field, or a change of name, type or stream, are refused and change nothing", async () => {
  await proxy("toxic-update");
  const added = await call(h.base, "POST", "/proxies/toxic-update/toxics", { name: "lat", type: "latency", attributes: { latency: 10 } });
  assert.equal(added.status, 200, added.text);
  const path = "/proxies/toxic-update/toxics/lat";
  for (const method of ["PATCH", "POST"]) {
    await refused(method, path, { toxicity: 0.5, atributes: { latency: 99 } }, 'unknown field "atributes" (known: name, type, stream, toxicity, attributes)');
  }
  await refused("PATCH", path, { type: "bandwidth" }, 'type cannot be changed by an update (toxic "lat" is latency, got "bandwidth"); delete it and add a new one');
  await refused("PATCH", path, { stream: "upstream" }, 'stream cannot be changed by an update (toxic "lat" is downstream, got "upstream"); delete it and add a new one');
  await refused("PATCH", path, { name: "other" }, 'name cannot be changed by an update (toxic "lat", got "other"); delete it and add it under the new name');
  assert.deepEqual((await call(h.base, "GET", path)).json, added.json);
  // the toxic sent back whole (its own name, type, stream) is an ordinary update
  const whole = { ...(added.json as object), attributes: { latency: 20, jitter: 0 } };
  const ok = await call(h.base, "PATCH", path, whole);
  assert.equal(ok.status, 200, ok.text);
  assert.deepEqual(ok.json, { name: "lat", type: "latency", stream: "downstream", toxicity: 1, attributes: { latency: 20, jitter: 0 } });
});

test("the bodies Toxiproxy's Go client sends are accepted: its whole proxy with toxics (null, then the list), AddToxic, UpdateToxic, Populate", async () => {
  // client.CreateProxy -> proxy.Save(): json.Marshal(Proxy) with ActiveToxics nil
  const created = await call(h.base, "POST", "/proxies", { name: "go-client", listen: "127.0.0.1:0", upstream: h.echo.address, enabled: true, toxics: null });
  assert.equal(created.status, 201, created.text);
  // proxy.AddToxic(name, type, stream, toxicity, attrs)
  const toxic = await call(h.base, "POST", "/proxies/go-client/toxics", { name: "slow", type: "latency", stream: "downstream", toxicity: 1, attributes: { latency: 5 } });
  assert.equal(toxic.status, 200, toxic.text);
  // client.Proxy(name) then proxy.Disable(): the proxy as read, toxics included, enabled false
  const read = (await call(h.base, "GET", "/proxies/go-client")).json as Record<string, unknown>;
  const saved = await call(h.base, "POST", "/proxies/go-client", { ...read, enabled: false });
  assert.equal(saved.status, 200, saved.text);
  assert.equal((saved.json as { enabled: boolean }).enabled, false);
  assert.deepEqual(((saved.json as { toxics: { name: string }[] }).toxics).map((t) => t.name), ["slow"]);
  // proxy.UpdateToxic(name, toxicity, attrs): {attributes, toxicity} by PATCH
  const updated = await call(h.base, "PATCH", "/proxies/go-client/toxics/slow", { attributes: { jitter: 1 }, toxicity: 0.5 });
  assert.equal(updated.status, 200, updated.text);
  // client.Populate([]Proxy): each entry marshalled whole
  const populated = await call(h.base, "POST", "/populate", [{ name: "go-pop", listen: "127.0.0.1:0", upstream: h.echo.address, enabled: true, toxics: null }]);
  assert.equal(populated.status, 201, populated.text);
});

test("keys match case-insensitively as Toxiproxy's Go decoder matches them (Toxiproxy.Net sends PascalCase)", async () => {
  const created = await call(h.base, "POST", "/proxies", { Name: "pascal", Listen: "127.0.0.1:0", Upstream: h.echo.address, Enabled: true });
  assert.equal(created.status, 201, created.text);
  const toxic = await call(h.base, "POST", "/proxies/pascal/toxics", { Name: "lat", Type: "latency", Toxicity: 1, Attributes: { Latency: 7, Jitter: 0 } });
  assert.equal(toxic.status, 200, toxic.text);
  assert.deepEqual((toxic.json as { attributes: unknown }).attributes, { latency: 7, jitter: 0 });
  const off = await call(h.base, "POST", "/proxies/pascal", { Name: "pascal", Enabled: false });
  assert.equal((off.json as { enabled: boolean }).enabled, false);
  // one field under two spellings is ambiguous: refused
  await refused("POST", "/proxies/pascal", { enabled: true, Enabled: false }, 'field "enabled" given twice, as "enabled" and "Enabled"');
});

test("toxiproxy-node-client still works end to end, and a misspelt field reaches it as a 400", async () => {
  const client = new Toxiproxy(h.base);
  const p = await client.createProxy({ name: "node-client", listen: "127.0.0.1:0", upstream: h.echo.address, enabled: true });
  const toxic = await p.addToxic({ name: "lat", type: "latency", stream: "downstream", toxicity: 1, attributes: { latency: 150, jitter: 0 } } as ICreateToxicBody<{ latency: number; jitter: number }>);
  // the latency acts on a real connection through the proxy
  const s = await dial(portOf(p.listen));
  assert.ok((await roundTrip(s)) >= 140);
  // the toxic and the proxy sent back whole, as their toJson() gives them
  const slower = await toxic.update({ ...toxic.toJson(), attributes: { latency: 1, jitter: 0 } });
  assert.deepEqual(slower.attributes, { latency: 1, jitter: 0 });
  const off = await p.update({ ...p.toJson(), enabled: false });
  assert.equal(off.enabled, false);
  const on = await off.update({ ...off.toJson(), enabled: true });
  assert.equal(on.enabled, true);
  const populated = await client.populate([{ name: "node-pop", listen: "127.0.0.1:0", upstream: h.echo.address, enabled: true }]);
  assert.equal(populated["node-pop"]?.enabled, true);
  s.destroy();
  // what the client would have let through before: a typo is now an error, not a 0 ms toxic
  await assert.rejects(p.addToxic({ type: "latency", attribtues: { latency: 500 } } as unknown as ICreateToxicBody<unknown>), /status code 400/);
  assert.deepEqual((await client.get("node-client")).toJson().name, "node-client");
  assert.deepEqual(((await call(h.base, "GET", "/proxies/node-client/toxics")).json as { name: string }[]).map((t) => t.name), ["lat"]);
});
