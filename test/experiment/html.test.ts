// The HTML report of a real run, opened in headless Chromium (Debian's chromium, driven by
// playwright-core) with every network request refused: the charts render (canvases with pixels
// drawn), the step names show, the page raises no error. With NETIMPAIR_REPORT_SCREENSHOT=FILE the
// screenshot is also saved there (docs/images/experiment-report.png comes from this test).
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { copyFile, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { chromium } from "playwright-core";
import { CLI_PATH } from "../support/cli.js";
import { startCliAgent, startHttpService } from "../support/experiment-lab.js";

const CHROMIUM = "/usr/bin/chromium";
const dir = await mkdtemp(join(tmpdir(), "netimpair-html-"));
after(() => rm(dir, { recursive: true, force: true }));

test("the HTML report opens with no network in Chromium: charts drawn, step names shown, no page error", async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get update && apt-get install -y chromium (.ci/run does this)`);
  const service = await startHttpService();
  const agent = await startCliAgent(`127.0.0.1:${service.port}`);
  const health = `http://127.0.0.1:${agent.apiPort}/health`;
  const scenario = join(dir, "checkout.yaml");
  await writeFile(
    scenario,
    [
      "name: checkout-survives-db-partition",
      "description: the API must keep 99% availability and recover within 1s",
      "proxies: [api]",
      "probes:",
      `  - {name: api, http: {url: "${health}", status: 200, body: ok}, every: 100ms, timeout: 300ms}`,
      `  - {name: port, tcp: "127.0.0.1:${agent.apiPort}", every: 200ms, timeout: 300ms}`,
      "slo: {api: {availability: 99%, p95: 250ms, recovery: 1s}}",
      "steadyState: {before: 500ms, after: 500ms}",
      "steps:",
      "  - {at: 0s, name: slow link, apply: {down: {delay: 60ms}, up: {delay: 20ms}}, for: 1200ms}",
      "  - {at: 1200ms, name: partition, apply: partition, for: 1200ms}",
      "  - {at: 2400ms, name: healed, apply: {down: {delay: 5ms}}, for: 800ms}",
      "  - {at: 3200ms, name: half-open, apply: blackhole, for: 900ms}",
    ].join("\n"),
  );
  const html = join(dir, "report.html");
  const reportFile = join(dir, "report.json");
  try {
    // traffic through the proxy while it plays, so throughput has something to show
    let pumping = true;
    const pump = (async () => {
      while (pumping) await fetch(health, { signal: AbortSignal.timeout(300) }).then((r) => r.text(), () => "");
    })();
    const child = spawn(process.execPath, [CLI_PATH, "run", scenario, "--agent", agent.url, "--html", html, "--report", reportFile], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const [code] = (await once(child, "close")) as [number | null];
    pumping = false;
    await pump;
    assert.equal(code, 1, `the partition breaks the slo: ${stderr}`);
  } finally {
    await agent.close();
    await service.close();
  }
  const text = await readFile(html, "utf8");
  assert.ok(!/<script[^>]+src=|<link[^>]+href=/i.test(text), "nothing is loaded from elsewhere");
  assert.ok(text.includes("uPlot"), "the chart library is inlined");

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"] });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, deviceScaleFactor: 1 });
    const errors: string[] = [];
    const requests: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(m.text());
    });
    await page.route("**/*", (route) => {
      const url = route.request().url();
      if (url.startsWith("file:")) return route.continue();
      requests.push(url);
      return route.abort();
    });
    await page.goto(pathToFileURL(html).href, { waitUntil: "load" });
    await page.waitForSelector("#chart-throughput canvas");
    assert.deepEqual(errors, []);
    assert.deepEqual(requests, [], "the report asked the network for nothing");
    assert.match(await page.title(), /checkout-survives-db-partition \(failed\)/);
    // step names on the timeline strip and in the table
    for (const name of ["slow link", "partition", "healed", "half-open"]) {
      assert.ok(await page.locator(".strip .band", { hasText: name }).first().isVisible(), `${name} on the timeline`);
      assert.ok(await page.locator("td .step-name", { hasText: name }).first().isVisible(), `${name} in the steps table`);
    }
    // four charts, each canvas with pixels drawn (bands, lines, points)
    // (a string: this project's TypeScript has no DOM types)
    const inked = (await page.evaluate(`["chart-timeline", "chart-latency", "chart-availability", "chart-throughput"].map((id) => {
      const canvas = document.querySelector("#" + id + " canvas");
      if (!canvas) return { id, inked: -1, colours: 0 };
      const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
      let inked = 0;
      const colours = new Set();
      for (let i = 0; i < data.length; i += 4) {
        if (data[i + 3] > 0) {
          inked++;
          colours.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
        }
      }
      return { id, inked: inked / (data.length / 4), colours: colours.size };
    })`)) as { id: string; inked: number; colours: number }[];
    for (const c of inked) assert.ok(c.inked > 0.05 && c.colours > 3, `${c.id}: ${JSON.stringify(c)}`);
    // the probes' series are in the legends, the slo's verdict in the tables
    assert.ok(await page.locator("#chart-latency .u-legend", { hasText: "api ms" }).isVisible());
    assert.ok(await page.locator("#chart-throughput .u-legend", { hasText: "api up" }).isVisible());
    assert.ok(await page.locator("text=The SLO broke").isVisible());
    assert.ok((await page.locator("table").count()) >= 3);
    const shot = join(dir, "report.png");
    await page.screenshot({ path: shot, fullPage: true });
    assert.ok((await readFile(shot)).length > 20_000);
    const keep = process.env.NETIMPAIR_REPORT_SCREENSHOT;
    if (keep) await copyFile(shot, keep);
  } finally {
    await browser.close();
  }
});
