// Running the real `netimpair agent` process for deployment tests: temp configs, a free
// port, waiting for /healthz, stopping with SIGTERM.
import { spawn, type ChildProcess } from "node:child_process";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { repoPath } from "./repo-path.js";

export const cliPath = repoPath("dist/src/cli/main.js");

/** A port free on 127.0.0.1 right now (the agent's control port needs a known number for probes). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface TempDir {
  path: string;
  file(name: string): string;
  remove(): Promise<void>;
}

export async function tempDir(): Promise<TempDir> {
  const path = await mkdtemp(join(tmpdir(), "netimpair-deploy-"));
  return { path, file: (name) => join(path, name), remove: () => rm(path, { recursive: true, force: true }) };
}

/** Writes a copy of the agent YAML at `source` with `edit` applied to its parsed object. */
export async function writeConfigCopy(source: string, target: string, edit: (config: Record<string, unknown>) => void): Promise<void> {
  const config = parseYaml(await readFile(source, "utf8")) as Record<string, unknown>;
  edit(config);
  await writeFile(target, stringifyYaml(config));
}

export async function writeToken(path: string, token: string, mode: number): Promise<void> {
  await writeFile(path, token + "\n", { mode });
  await chmod(path, mode); // the umask may have narrowed the mode
}

export interface AgentProcess {
  child: ChildProcess;
  output(): string;
  /** Resolves with the exit code (null when killed by a signal). */
  exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL if it has not exited after `graceMs`; resolves with the exit code. */
  stop(graceMs?: number): Promise<number | null>;
}

/** Runs `node SCRIPT ...args` (SCRIPT: this checkout's compiled CLI unless given). */
export function startAgentProcess(args: string[], script: string = cliPath): AgentProcess {
  const child = spawn(process.execPath, [script, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  child.stdout!.on("error", () => {});
  child.stderr!.on("error", () => {});
  const exited = new Promise<number | null>((resolve) => {
    child.on("error", (err) => {
      out += `spawn error: ${err.message}\n`;
      resolve(-1);
    });
    child.on("exit", (code) => resolve(code));
  });
  const stop = async (graceMs = 8000): Promise<number | null> => {
    if (child.exitCode !== null || child.signalCode !== null) return exited;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    try {
      return await exited;
    } finally {
      clearTimeout(timer);
    }
  };
  return { child, output: () => out, exited, stop };
}

/** Polls GET url until it answers 200; throws with the agent's output if it exits or the deadline passes. */
export async function waitForHealthy(agent: AgentProcess, url: string, deadlineMs = 15_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  let exitCode: number | null | undefined;
  void agent.exited.then((code) => (exitCode = code));
  let last = "";
  while (Date.now() < end) {
    if (exitCode !== undefined) throw new Error(`agent exited (${exitCode}) before ${url} answered:\n${agent.output()}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.status === 200) return;
      last = `status ${res.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} not healthy after ${deadlineMs} ms (${last}):\n${agent.output()}`);
}

/** Waits for the process to exit on its own; throws if it is still running after `ms`. */
export async function exitWithin(agent: AgentProcess, ms: number): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`agent still running after ${ms} ms:\n${agent.output()}`)), ms);
  });
  try {
    return await Promise.race([agent.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Starts an agent on a fresh free control port and waits for /healthz. A port picked by
 * freePort can be taken (e.g. as another test's ephemeral client port) before the agent
 * binds it, so on EADDRINUSE this retries with another port, up to 3 times.
 */
export async function startHealthyAgent(argsFor: (controlPort: number) => Promise<string[]>, script: string = cliPath): Promise<{ agent: AgentProcess; port: number }> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const agent = startAgentProcess(await argsFor(port), script);
    try {
      await waitForHealthy(agent, `http://127.0.0.1:${port}/healthz`);
      return { agent, port };
    } catch (err) {
      await agent.stop();
      if (attempt < 3 && agent.output().includes("EADDRINUSE")) continue;
      throw err;
    }
  }
}
