// A real agent (which serves the Toxiproxy API on its own port), an echo upstream, and raw HTTP calls for
// checking status codes and bodies exactly (toxiproxy-node-client reports only the status).
import { startAgent, type RunningAgent } from "../../src/agent/start.js";
import { echoServer, type Peer } from "../support/net.js";

export interface Harness {
  agent: RunningAgent;
  /** http://127.0.0.1:PORT of the agent (Toxiproxy's API base) */
  base: string;
  echo: Peer;
  close(): Promise<void>;
}

export async function startHarness(): Promise<Harness> {
  const agent = await startAgent({ control: "127.0.0.1:0" });
  const echo = await echoServer();
  return {
    agent,
    base: agent.httpUrl,
    echo,
    close: async () => {
      await agent.close();
      await echo.close();
    },
  };
}

export interface HttpReply {
  status: number;
  text: string;
  /** parsed JSON, or undefined for an empty body */
  json: unknown;
}

/** One HTTP call; `body` is sent as JSON unless it is a string (sent as is). */
export async function call(base: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<HttpReply> {
  const init: RequestInit = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === "string" ? body : JSON.stringify(body);
    (init.headers as Record<string, string>)["Content-Type"] = "application/json";
  }
  const res = await fetch(base + path, init);
  const text = await res.text();
  return { status: res.status, text, json: text.trim() === "" ? undefined : (JSON.parse(text) as unknown) };
}

/** Listen port of a Toxiproxy proxy JSON ("127.0.0.1:PORT"). */
export function portOf(listen: string): number {
  return Number(listen.slice(listen.lastIndexOf(":") + 1));
}
