// For the client-verdict tests (not a test file): a CLI-started agent with protocol proxies in
// front of real services, scenario files in a temp folder, and the real `netimpair run` with a
// client program (test/support/clients/) as its command; the run's JSON, JUnit, Markdown and
// HTML reports read back.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { RunReport } from "../../src/report/report.js";
import { CLI_PATH } from "./cli.js";
import { spawnCliAgent, type CliAgent } from "./cli-agent.js";

/** The compiled client program `name` (http-client, breaker-client, ...). */
export function clientProgram(name: string): string {
  return fileURLToPath(new URL(`./clients/${name}.js`, import.meta.url));
}

export interface Hit {
  method: string;
  path: string;
  body: string;
  at: number;
}

/** An HTTP service: /slow/* answers after `slowMs`, anything else at once with `status`; every request is kept. */
export interface Service {
  port: number;
  hits: Hit[];
  status: number;
  close(): Promise<void>;
}

export async function startService(): Promise<Service> {
  const service: Service = { port: 0, hits: [], status: 200, close: async () => {} };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      service.hits.push({ method: req.method ?? "", path: req.url ?? "", body: Buffer.concat(chunks).toString(), at: Date.now() });
      res.writeHead(service.status, { "content-type": "text/plain" });
      res.end(service.status === 200 ? "ok" : "failing");
    });
  });
  server.on("clientError", (_e, s) => s.destroy());
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  service.port = (server.address() as AddressInfo).port;
  service.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return service;
}

export interface VerdictRun {
  code: number | null;
  stdout: string;
  stderr: string;
  report: RunReport;
  junit: string;
  markdown: string;
  html: string;
}

export interface VerdictLab {
  agent: CliAgent;
  /** the proxy's listen address as a URL base: http://127.0.0.1:PORT */
  base(proxy: string): string;
  /** runs `netimpair run` on `scenario` (YAML text) with `command` under it */
  run(scenario: string, command: string[]): Promise<VerdictRun>;
  close(): Promise<void>;
}

/** An agent with `proxies` (NAME=LISTEN,UPSTREAM,PROTOCOL flags). */
export async function verdictLab(proxies: string[]): Promise<VerdictLab> {
  const dir = await mkdtemp(join(tmpdir(), "netimpair-verdicts-"));
  const agent = await spawnCliAgent({ args: proxies.flatMap((p) => ["--proxy", p]), logLevel: "silent", captureLogs: false });
  let n = 0;
  return {
    agent,
    base: (proxy) => `http://127.0.0.1:${agent.port(proxy)}`,
    async run(scenario, command) {
      const k = ++n;
      const file = join(dir, `s${k}.yaml`);
      await writeFile(file, scenario);
      const out = (ext: string): string => join(dir, `r${k}.${ext}`);
      const args = [CLI_PATH, "run", file, "--agent", agent.url, "--report", out("json"), "--junit", out("xml"), "--summary", out("md"), "--html", out("html"), "--", ...command];
      const env = { ...process.env };
      delete env.NETIMPAIR_AGENT;
      delete env.NETIMPAIR_TOKEN;
      const child = spawn(process.execPath, args, { env, stdio: ["ignore", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
      child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
      const killer = setTimeout(() => child.kill("SIGKILL"), 60_000);
      const [code] = (await once(child, "close")) as [number | null];
      clearTimeout(killer);
      const read = (ext: string): Promise<string> => readFile(out(ext), "utf8").catch(() => "");
      const json = await read("json");
      if (json === "") throw new Error(`netimpair run wrote no report (exit ${code}): ${stderr}`);
      return { code, stdout, stderr, report: JSON.parse(json) as RunReport, junit: await read("xml"), markdown: await read("md"), html: await read("html") };
    },
    async close() {
      await agent.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
