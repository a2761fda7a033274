// For the experiment tests (not a test file): an HTTP service that logs when each request reached
// it, a `netimpair agent` started by the CLI with a proxy "api" in front of it, a webhook receiver.
import type { ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { ControlClient } from "../../src/control/client.js";
import { connectToCliAgent, spawnCliAgent } from "./cli-agent.js";

export interface HttpService {
  port: number;
  /** Date.now() of each request that reached the service */
  hits: number[];
  /** the status it answers with (200 "ok" unless changed) */
  status: number;
  close(): Promise<void>;
}

async function listen(server: Server): Promise<number> {
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return (server.address() as AddressInfo).port;
}

/** GET /health -> 200 "ok" (or `status` with "unhealthy"); every request is logged. */
export async function startHttpService(): Promise<HttpService> {
  const service: HttpService = { port: 0, hits: [], status: 200, close: async () => {} };
  const server = createServer((req, res) => {
    service.hits.push(Date.now());
    req.resume();
    res.writeHead(service.status, { "content-type": "text/plain" });
    res.end(service.status === 200 ? "ok" : "unhealthy");
  });
  server.on("clientError", (_err, socket) => socket.destroy());
  service.port = await listen(server);
  service.close = () => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
  return service;
}

export interface WebhookReceiver {
  url: string;
  /** the JSON bodies received */
  posts: { text: string }[];
  close(): Promise<void>;
}

export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const posts: { text: string }[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (d: string) => (body += d));
    req.on("end", () => {
      if (req.method === "POST" && req.headers["content-type"] === "application/json") posts.push(JSON.parse(body) as { text: string });
      res.writeHead(200).end("ok");
    });
  });
  const port = await listen(server);
  return {
    url: `http://127.0.0.1:${port}/services/T000/B000/XXXX`,
    posts,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

export interface CliAgent {
  child: ChildProcess;
  url: string;
  /** port of the proxy "api" */
  apiPort: number;
  /** a control session of the test's own (not bound to a run) */
  ctl: ControlClient;
  /** the impairment's profile on "api", or null */
  impairment(): Promise<string | null>;
  close(): Promise<void>;
}

/** `netimpair agent` with proxy "api" in front of `upstream` (HOST:PORT). */
export async function startCliAgent(upstream: string): Promise<CliAgent> {
  const agent = await spawnCliAgent({ args: ["--proxy", `api=127.0.0.1:0,${upstream}`], logLevel: "silent", captureLogs: false });
  const ctl = await connectToCliAgent(agent, { bindToSession: false });
  return {
    child: agent.child,
    url: agent.url,
    apiPort: agent.port("api"),
    ctl,
    impairment: async () => (await ctl.proxies()).find((p) => p.name === "api")!.impairment?.profile ?? null,
    close: async () => {
      await ctl.close();
      await agent.stop();
    },
  };
}
