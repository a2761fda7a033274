// Runs the real `netimpair` binary (dist/src/cli/main.js) as a child process (not a test file).
import { spawn } from "node:child_process";
import { once } from "node:events";
import net, { type AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { startAgent, type RunningAgent } from "../../src/index.js";
import { echoServer, type Peer } from "./net.js";

/** dist/src/cli/main.js, found from this compiled file (dist/test/support/cli.js). */
export const CLI_PATH = fileURLToPath(new URL("../../src/cli/main.js", import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  elapsedMs: number;
}

export interface CliOptions {
  env?: Record<string, string | undefined>;
  /** kill the child after this long (default 20 s) */
  timeoutMs?: number;
  cwd?: string;
}

/** Runs `netimpair ARGS...` to its end. NETIMPAIR_AGENT/NETIMPAIR_TOKEN are cleared unless given. */
export async function runCli(args: string[], opts: CliOptions = {}): Promise<CliResult> {
  const env: Record<string, string | undefined> = { ...process.env, NETIMPAIR_AGENT: undefined, NETIMPAIR_TOKEN: undefined, ...opts.env };
  for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
  const started = performance.now();
  const child = spawn(process.execPath, [CLI_PATH, ...args], { env: env as NodeJS.ProcessEnv, cwd: opts.cwd, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  child.on("error", () => {});
  const killer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 20_000);
  const [code] = (await once(child, "close")) as [number | null];
  clearTimeout(killer);
  return { code, stdout, stderr, elapsedMs: performance.now() - started };
}

/** A loopback port nobody listens on (bound, then closed). */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  server.on("error", () => {});
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}


export interface EchoAgent {
  agent: RunningAgent;
  echo: Peer;
  /** the proxy "pg" (listen port picked by the agent) in front of the echo server */
  proxyPort: number;
  close(): Promise<void>;
}

/** An in-process agent with one proxy "pg" in front of a loopback echo server. */
export async function startEchoAgent(opts: { token?: string; labels?: Record<string, string> } = {}): Promise<EchoAgent> {
  const echo = await echoServer();
  const agent = await startAgent({
    control: "127.0.0.1:0",
    proxies: [{ name: "pg", listen: "127.0.0.1:0", upstream: echo.address }],
    ...(opts.token !== undefined ? { token: opts.token } : {}),
    ...(opts.labels !== undefined ? { labels: opts.labels } : {}),
  });
  const listen = agent.agent.listProxies().find((p) => p.name === "pg")!.listen;
  return {
    agent,
    echo,
    proxyPort: Number(listen.slice(listen.lastIndexOf(":") + 1)),
    close: async () => {
      await agent.close();
      await echo.close();
    },
  };
}
