// The dashboard in headless Chromium against agents started by the CLI (`netimpair agent`):
// it lists the proxies, follows a CLI change, drives the agent from its own controls (checked
// on the agent), shows throughput while traffic flows, reconnects after a restart, asks for a
// token and keeps it out of URLs and storage. Set DASHBOARD_SCREENSHOT=FILE to save a picture.
// Needs /usr/bin/chromium (Debian's chromium package; .ci/run installs it where missing).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile, chmod } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Socket } from "node:net";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { runCli } from "../support/cli.js";
import { spawnCliAgent, type CliAgent } from "../support/cli-agent.js";
import { dial, echoServer, sleep, type Peer } from "../support/net.js";
import { connect } from "../../src/control/client.js";
import { createServer, request as httpRequest } from "node:http";
import type { AddressInfo } from "node:net";
import { upgradeStatus } from "../support/rpc.js";
import { randomBytes } from "node:crypto";
import { Redis, ReplyError } from "ioredis";
import { REDIS, requireService, serviceAddress } from "../support/services.js";

const CHROMIUM = "/usr/bin/chromium";
const ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

/** `netimpair agent --log-level silent ARGS...` (ARGS carry --control). */
function cliAgent(args: string[]): Promise<CliAgent> {
  return spawnCliAgent({ args, control: null, logLevel: "silent", captureLogs: false });
}

let context: BrowserContext;
let profileDir: string;
let echo: Peer;

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get update && apt-get install -y chromium`);
  profileDir = await mkdtemp(join(tmpdir(), "netimpair-dash-"));
  context = await chromium.launchPersistentContext(profileDir, { executablePath: CHROMIUM, headless: true, args: ARGS, viewport: { width: 1360, height: 900 } });
  echo = await echoServer();
});

after(async () => {
  await context?.close();
  await echo?.close();
  if (profileDir) await rm(profileDir, { recursive: true, force: true });
});

/** A page that records its errors (uncaught exceptions and console errors). */
async function openPage(url: string): Promise<{ page: Page; errors: string[] }> {
  const page = await context.newPage();
  const errors: string[] = [];
  page.on("pageerror", (err) => errors.push(`pageerror: ${err.message}`));
  page.on("console", (msg) => {
    if (msg.type() === "error") errors.push(`console: ${msg.text()}`);
  });
  await page.goto(url);
  return { page, errors };
}

/** Writes to the socket and reads its echo until stopped: traffic both ways. */
function pump(s: Socket): { stop(): void } {
  const chunk = Buffer.alloc(16 * 1024, 0x61);
  let running = true;
  s.on("data", () => undefined);
  s.on("error", () => undefined);
  const write = () => {
    while (running && !s.destroyed && s.write(chunk));
  };
  s.on("drain", write);
  write();
  return { stop: () => ((running = false), s.destroy()) };
}

test("the page lists the proxies, follows the CLI, drives the agent from its controls and shows traffic", async () => {
  const agent = await cliAgent(["--control", "127.0.0.1:0", "--proxy", `pg=127.0.0.1:0,${echo.address}`, "--proxy", `redis=127.0.0.1:0,${echo.address}`]);
  const ctl = await connect(agent.url);
  const { page, errors } = await openPage(agent.httpUrl + "/");
  let traffic: { stop(): void } | null = null;
  try {
    await page.locator('[data-proxy="pg"]').waitFor({ timeout: 10_000 });
    await page.locator('[data-proxy="redis"]').waitFor();
    assert.equal(await page.locator('[data-proxy="pg"] .protocol').textContent(), "tcp");
    assert.match((await page.locator('[data-proxy="pg"] .impairment').textContent()) ?? "", /clean/);

    // a change made from the CLI shows within a second or two
    const applied = await runCli(["--agent", agent.url, "apply", "3g", "--proxy", "pg", "--for", "5m"]);
    assert.equal(applied.code, 0, applied.stderr);
    const t0 = performance.now();
    await page.locator('[data-proxy="pg"][data-impairment="3g"]').waitFor({ timeout: 5000 });
    const followMs = performance.now() - t0;
    assert.ok(followMs < 2500, `the page showed the CLI's apply after ${Math.round(followMs)} ms`);
    assert.match((await page.locator('[data-proxy="pg"] .time-left').textContent()) ?? "", /\d+ m \d+ s left|\d+ s left/);
    await page.getByRole("list", { name: "Event feed" }).getByText(/pg: 3g until/).waitFor({ timeout: 3000 });

    // the page's own controls, checked on the agent
    await page.getByLabel("Proxy", { exact: true }).selectOption("redis");
    await page.getByLabel("Profile", { exact: true }).selectOption("wifi");
    await page.getByLabel("Duration", { exact: true }).fill("30s");
    await page.getByRole("button", { name: "Apply" }).click();
    await page.getByRole("status").getByText("Applied wifi to redis for 30s.").waitFor({ timeout: 3000 });
    const redis = (await ctl.proxies()).find((p) => p.name === "redis")!;
    assert.equal(redis.impairment?.profile, "wifi");
    assert.ok(redis.impairment?.expiresAt && Date.parse(redis.impairment.expiresAt) - Date.now() > 20_000, `expiresAt ${redis.impairment?.expiresAt}`);
    await page.locator('[data-proxy="redis"][data-impairment="wifi"]').waitFor({ timeout: 3000 });

    // a bad duration is named, nothing is applied
    await page.getByLabel("Profile", { exact: true }).selectOption("edge");
    await page.getByLabel("Duration", { exact: true }).fill("soon");
    await page.getByRole("button", { name: "Apply" }).click();
    await page.locator("#control-message.error").getByText(/ttl/).waitFor({ timeout: 3000 });
    assert.equal((await ctl.proxies()).find((p) => p.name === "redis")!.impairment?.profile, "wifi");

    await page.getByRole("button", { name: "Clear" }).click();
    await page.getByRole("status").getByText("Cleared redis.").waitFor({ timeout: 3000 });
    assert.equal((await ctl.proxies()).find((p) => p.name === "redis")!.impairment, null);

    // traffic through pg: throughput and connections move on the page
    const port = Number((await ctl.proxies()).find((p) => p.name === "pg")!.listen.split(":").pop());
    const s = await dial(port);
    traffic = pump(s);
    const card = page.locator('[data-proxy="pg"]');
    const moving = async () => Number(await card.getAttribute("data-throughput-down")) > 10_000 && Number(await card.getAttribute("data-throughput-up")) > 10_000 && (await card.getAttribute("data-connections")) === "1";
    const deadline = performance.now() + 8000;
    while (!(await moving())) {
      assert.ok(performance.now() < deadline, `no throughput on the page: up ${await card.getAttribute("data-throughput-up")}, down ${await card.getAttribute("data-throughput-down")}, connections ${await card.getAttribute("data-connections")}`);
      await sleep(100);
    }
    await page.locator("#conn-body tr").filter({ hasText: "pg" }).waitFor({ timeout: 3000 });
    await page.getByRole("list", { name: "Event feed" }).getByText(/pg: 127\.0\.0\.1:\d+/).first().waitFor({ timeout: 3000 });
    await page.getByLabel("Proxy", { exact: true }).selectOption("redis");
    await page.getByLabel("Profile", { exact: true }).selectOption("flaky");
    await page.getByLabel("Duration", { exact: true }).fill("");
    await page.getByRole("button", { name: "Apply" }).click();
    await page.locator('[data-proxy="redis"][data-impairment="flaky"]').waitFor({ timeout: 3000 });
    const redisPort = Number((await ctl.proxies()).find((p) => p.name === "redis")!.listen.split(":").pop());
    const redisTraffic = pump(await dial(redisPort));
    await sleep(process.env.DASHBOARD_SCREENSHOT ? 8000 : 2500); // a few chart points
    if (process.env.DASHBOARD_SCREENSHOT) await page.screenshot({ path: process.env.DASHBOARD_SCREENSHOT, fullPage: true });
    redisTraffic.stop();

    // reset connections on pg: the agent drops the live connection
    await page.getByLabel("Proxy", { exact: true }).selectOption("pg");
    const ended = new Promise<void>((resolve) => s.once("close", () => resolve())); // ECONNRESET is the expected end
    await page.getByRole("button", { name: "Reset connections" }).click();
    await page.getByRole("status").getByText("Reset 1 connection on pg.").waitFor({ timeout: 3000 });
    await ended;

    // panic clears everything
    await page.getByRole("button", { name: "Panic" }).click();
    await page.getByRole("status").getByText(/^Panic: cleared/).waitFor({ timeout: 3000 });
    assert.deepEqual((await ctl.proxies()).map((p) => p.impairment), [null, null]);
    await page.locator('[data-proxy="pg"][data-impairment=""]').waitFor({ timeout: 3000 });

    // a fault shows in the event feed
    const faulted = await runCli(["--agent", agent.url, "apply", "clean", "--proxy", "pg", "--set", "reset.after=200ms"]);
    assert.equal(faulted.code, 0, faulted.stderr);
    const victim = await dial(port);
    victim.on("error", () => undefined);
    await page.locator("#event-list li.fault").filter({ hasText: "pg:" }).first().waitFor({ timeout: 5000 });
    assert.equal(await page.locator("#event-list li.fault .kind").first().textContent(), "reset");
    victim.destroy();
    assert.deepEqual(errors, []);
  } finally {
    traffic?.stop();
    await page.close();
    await ctl.close();
    await agent.stop();
  }
});

test("a request fault shows in the feed and on the card: outcome counts, the rules in force, the time left", async () => {
  await requireService(REDIS);
  const prefix = `t_dash_${process.pid}_${randomBytes(3).toString("hex")}:`;
  const agent = await cliAgent(["--control", "127.0.0.1:0", "--proxy", `rd=127.0.0.1:0,${serviceAddress(REDIS)},redis`, "--proxy", `raw=127.0.0.1:0,${echo.address}`]);
  const ctl = await connect(agent.url);
  const admin = new Redis({ host: REDIS.host, port: REDIS.port });
  admin.on("error", () => undefined);
  const { page, errors } = await openPage(agent.httpUrl + "/");
  let client: Redis | null = null;
  try {
    const card = page.locator('[data-proxy="rd"]');
    await card.waitFor({ timeout: 10_000 });
    // no fault yet: "faults none" is not shown as an alarm
    assert.equal(await card.locator(".figures .faults.some").count(), 0);
    const applied = await runCli(["--agent", agent.url, "apply", "redis-oom", "--proxy", "rd"]);
    assert.equal(applied.code, 0, applied.stderr);
    await page.locator('[data-proxy="rd"][data-impairment="redis-oom"]').waitFor({ timeout: 5000 });
    assert.equal(await card.locator(".time-left").textContent(), "until cleared");
    assert.match((await card.locator(".impairment").textContent()) ?? "", /1 request rule/);
    assert.doesNotMatch((await card.locator(".impairment").textContent()) ?? "", /share|queue/);
    assert.match((await card.getByRole("list", { name: "request rules of rd" }).textContent()) ?? "", /requests\[0\] match \{"command":\["SET",.*fail \{"error":"OOM"\}/);

    const port = Number((await ctl.proxies()).find((p) => p.name === "rd")!.listen.split(":").pop());
    client = new Redis({ host: "127.0.0.1", port, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on("error", () => undefined);
    const err = await client.set(`${prefix}k`, "v").then(() => null, (e: unknown) => e);
    assert.ok(err instanceof ReplyError, `expected OOM, got ${String(err)}`);
    assert.equal(await admin.exists(`${prefix}k`), 0, "the refused SET wrote nothing");
    assert.equal(await client.get(`${prefix}k`), null, "reads still pass");

    // the feed names the request, its outcome and the rule; the card counts outcomes
    const line = page.locator("#event-list li.request").filter({ hasText: `rd: SET ${prefix}k` });
    await line.first().waitFor({ timeout: 5000 });
    assert.equal(await line.first().locator(".kind").textContent(), "failed");
    assert.match((await line.first().textContent()) ?? "", /requests\[0\] match .* fail \{"error":"OOM"\} · client 127\.0\.0\.1:\d+/);
    await card.locator(".figures .requests.some").filter({ hasText: /failed 1/ }).waitFor({ timeout: 3000 });
    // ioredis sends its own commands on connect (INFO, ...): those are forwarded
    assert.match((await card.locator(".figures .requests").textContent()) ?? "", /^requests forwarded [1-9]\d*, failed 1$/);
    // a tcp proxy has no request figures; clean with a timed reset shows its time left
    assert.equal(await page.locator('[data-proxy="raw"] .figures .requests').count(), 0);
    const timed = await runCli(["--agent", agent.url, "apply", "clean", "--proxy", "raw", "--set", "reset.after=2s", "--for", "5m"]);
    assert.equal(timed.code, 0, timed.stderr);
    await page.locator('[data-proxy="raw"][data-impairment="clean"]').waitFor({ timeout: 5000 });
    await page.locator('[data-proxy="raw"] .time-left').filter({ hasText: /\d+ m \d+ s left/ }).waitFor({ timeout: 3000 });

    // a bad duration from the page's controls: its error text said once
    await page.getByLabel("Proxy", { exact: true }).selectOption("rd");
    await page.getByLabel("Duration", { exact: true }).fill("soon");
    await page.getByRole("button", { name: "Apply" }).click();
    const message = page.locator("#control-message.error");
    await message.getByText(/ttl/).waitFor({ timeout: 3000 });
    const text = (await message.textContent()) ?? "";
    assert.equal(text.split("soon").length - 1, 1, `the error says its value once: ${text}`);
    if (process.env.DASHBOARD_SCREENSHOT) await page.screenshot({ path: process.env.DASHBOARD_SCREENSHOT.replace(/(\.png)?$/, "-requests.png"), fullPage: true });
    assert.deepEqual(errors, []);
  } finally {
    client?.disconnect();
    const keys = await admin.keys(`${prefix}*`);
    if (keys.length) await admin.del(...keys);
    admin.disconnect();
    await page.close();
    await ctl.close();
    await agent.stop();
  }
});

test("the page reconnects when the agent restarts, and shows the new agent's proxies", async () => {
  const first = await cliAgent(["--control", "127.0.0.1:0", "--proxy", `pg=127.0.0.1:0,${echo.address}`]);
  const controlAddress = first.httpUrl.replace(/^http:\/\//, "");
  const { page, errors } = await openPage(first.httpUrl + "/");
  let second: CliAgent | null = null;
  try {
    await page.locator('[data-proxy="pg"]').waitFor({ timeout: 10_000 });
    await page.locator(".link-status.up").waitFor();
    await first.stop();
    await page.locator(".link-status.down").waitFor({ timeout: 5000 });
    second = await cliAgent(["--control", controlAddress, "--proxy", `api=127.0.0.1:0,${echo.address}`]);
    await page.locator('[data-proxy="api"]').waitFor({ timeout: 8000 });
    await page.locator(".link-status.up").waitFor();
    assert.equal(await page.locator('[data-proxy="pg"]').count(), 0, "the old agent's proxy is gone");
    // and the controls work on the new agent
    await page.getByLabel("Profile", { exact: true }).selectOption("3g");
    await page.getByRole("button", { name: "Apply" }).click();
    await page.locator('[data-proxy="api"][data-impairment="3g"]').waitFor({ timeout: 3000 });
    assert.deepEqual(errors.filter((e) => !/WebSocket|ERR_CONNECTION_REFUSED|Failed to load resource/.test(e)), []);
  } finally {
    await page.close();
    await first.stop();
    await second?.stop();
  }
});

test("with a token the page shows nothing until given it, keeps it out of URLs and storage, and refuses a wrong one", async () => {
  const dir = await mkdtemp(join(tmpdir(), "netimpair-dash-token-"));
  const tokenFile = join(dir, "token");
  const TOKEN = "dash-s3cret/with+odd=chars ü";
  await writeFile(tokenFile, TOKEN + "\n");
  await chmod(tokenFile, 0o600);
  const agent = await cliAgent(["--control", "127.0.0.1:0", "--token-file", tokenFile, "--proxy", `secretdb=127.0.0.1:0,${echo.address}`]);
  const { page, errors } = await openPage(agent.httpUrl + "/");
  try {
    await page.getByLabel("Token", { exact: true }).waitFor({ timeout: 10_000 });
    assert.equal(await page.locator("#main").isHidden(), true);
    assert.doesNotMatch(await page.content(), /secretdb/, "nothing of the agent shows without the token");

    await page.getByLabel("Token", { exact: true }).fill("wrong-token");
    await page.getByRole("button", { name: "Connect" }).click();
    await page.getByRole("alert").getByText("The agent refused that token.").waitFor({ timeout: 5000 });
    assert.doesNotMatch(await page.content(), /secretdb/);

    await page.getByLabel("Token", { exact: true }).fill(TOKEN);
    await page.getByRole("button", { name: "Connect" }).click();
    await page.locator('[data-proxy="secretdb"]').waitFor({ timeout: 5000 });
    assert.equal(await page.locator("#login").isHidden(), true);
    assert.doesNotMatch(page.url(), /s3cret|bearer/i);
    const stored = await page.evaluate<string>("JSON.stringify({ local: { ...localStorage }, session: { ...sessionStorage }, cookie: document.cookie })");
    assert.equal(stored, JSON.stringify({ local: {}, session: {}, cookie: "" }));
    // the controls work with the token
    await page.getByLabel("Profile", { exact: true }).selectOption("lte");
    await page.getByRole("button", { name: "Apply" }).click();
    await page.locator('[data-proxy="secretdb"][data-impairment="lte"]').waitFor({ timeout: 3000 });
    const ctl = await connect(agent.url, { token: TOKEN });
    assert.equal((await ctl.proxies())[0]!.impairment?.profile, "lte");
    await ctl.close();
    // a reload forgets it
    await page.reload();
    await page.getByLabel("Token", { exact: true }).waitFor({ timeout: 5000 });
    assert.doesNotMatch(await page.content(), /secretdb/);
    assert.deepEqual(errors.filter((e) => !/401|Unauthorized|Failed to load resource/.test(e)), []);
  } finally {
    await page.close();
    await agent.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

test("a page from another origin cannot open the control channel; rebinding-shaped requests are refused on every route but /healthz", async () => {
  const agent = await cliAgent(["--control", "127.0.0.1:0", "--proxy", `pg=127.0.0.1:0,${echo.address}`, "--allow-host", "dash.test"]);
  const port = Number(new URL(agent.httpUrl).port);
  try {
    // the browser: a page from another origin (a plain web server beside the agent) is refused
    const foreign = createServer((_req, res) => res.writeHead(200, { "Content-Type": "text/html" }).end("<!doctype html><title>elsewhere</title>"));
    foreign.listen(0, "127.0.0.1");
    await once(foreign, "listening");
    const { page } = await openPage(`http://127.0.0.1:${(foreign.address() as AddressInfo).port}/`);
    const tryControl = (url: string) =>
      page.evaluate<string>(
        `new Promise((resolve) => { const ws = new WebSocket(${JSON.stringify(url)}, ["netimpair"]); ws.onopen = () => { ws.close(); resolve("open"); }; ws.onclose = () => resolve("refused"); setTimeout(() => resolve("no answer"), 5000); })`,
      );
    assert.equal(await tryControl(agent.url), "refused");
    assert.equal(await tryControl(`ws://localhost:${port}/control`), "refused");
    await page.close();
    foreign.close();
    await page.close();

    // raw requests shaped like a rebound name: foreign Host with the matching Origin
    const evil = { host: `evil.example:${port}`, origin: `http://evil.example:${port}` };
    for (const path of ["/", "/dashboard/app.js", "/dashboard/auth", "/metrics", "/control", "/proxies", "/version", "/no-such-path"]) {
      const r = await httpGet(`${agent.httpUrl}${path}`, evil);
      assert.equal(r.status, 403, `${path}: ${r.status} ${r.body}`);
      assert.match((JSON.parse(r.body) as { error: string }).error, /host "evil\.example:\d+" is not a name this agent answers to \(DNS rebinding protection\).*--allow-host evil\.example/);
    }
    assert.equal(await upgradeStatus(agent.url, evil), 403);
    assert.equal((await httpGet(`${agent.httpUrl}/healthz`, evil)).status, 200, "/healthz answers any Host (probes)");
    // a foreign Origin is refused even with our Host
    assert.equal(await upgradeStatus(agent.url, { origin: "http://evil.example" }), 403);
    assert.equal((await httpGet(`${agent.httpUrl}/metrics`, { origin: "http://evil.example" })).status, 403);
    // the agent's own origin, loopback names, IP literals and --allow-host names pass
    assert.equal(await upgradeStatus(agent.url, { origin: agent.httpUrl }), 101);
    for (const host of [`localhost:${port}`, `app.localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, `192.0.2.7:${port}`, `dash.test:${port}`, `DASH.test.:${port}`]) {
      assert.equal((await httpGet(`${agent.httpUrl}/metrics`, { host })).status, 200, host);
    }
    assert.equal(await upgradeStatus(agent.url, { host: `dash.test:${port}`, origin: `http://dash.test:${port}` }), 101);
    assert.equal((await httpGet(`${agent.httpUrl}/metrics`, { host: `sub.dash.test:${port}` })).status, 403, "an exact name does not cover subdomains");
  } finally {
    await agent.stop();
  }
});

function httpGet(url: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (d: string) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}
