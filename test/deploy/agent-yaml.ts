// Reads the fields of an agent YAML (SPEC "Agent") that deployment files must agree with:
// the control address, the token file and each proxy's listen and upstream addresses.
import { parse as parseYaml } from "yaml";
import { parseHostPort, type HostPort } from "../../src/relay/address.js";

export interface AgentYamlProxy {
  name: string;
  listen: HostPort;
  upstream: HostPort;
}

export interface AgentYaml {
  control: HostPort;
  tokenFile?: string;
  tls?: { cert: string; key: string };
  proxies: AgentYamlProxy[];
}

function hostPort(field: string, value: unknown): HostPort {
  const hp = typeof value === "string" ? parseHostPort(value) : `expected HOST:PORT, got ${JSON.stringify(value)}`;
  if (typeof hp === "string") throw new Error(`${field}: ${hp}`);
  return hp;
}

/** Parses agent YAML text; throws naming the field and value when a needed field is wrong. */
export function readAgentYaml(text: string, where: string): AgentYaml {
  const data: unknown = parseYaml(text);
  if (typeof data !== "object" || data === null || Array.isArray(data)) throw new Error(`${where}: expected a mapping at the top, got ${JSON.stringify(data)}`);
  const d = data as Record<string, unknown>;
  const control = hostPort(`${where}: control`, d.control ?? "127.0.0.1:8474");
  if (d.tokenFile !== undefined && typeof d.tokenFile !== "string") throw new Error(`${where}: tokenFile: expected a path, got ${JSON.stringify(d.tokenFile)}`);
  const rawProxies = d.proxies ?? [];
  if (!Array.isArray(rawProxies)) throw new Error(`${where}: proxies: expected a list, got ${JSON.stringify(rawProxies)}`);
  const proxies = rawProxies.map((p: unknown, i: number): AgentYamlProxy => {
    const r = (typeof p === "object" && p !== null ? p : {}) as Record<string, unknown>;
    if (typeof r.name !== "string") throw new Error(`${where}: proxies[${i}].name: expected a string, got ${JSON.stringify(r.name)}`);
    return { name: r.name, listen: hostPort(`${where}: proxies[${i}].listen`, r.listen), upstream: hostPort(`${where}: proxies[${i}].upstream`, r.upstream) };
  });
  const tls = d.tls as AgentYaml["tls"];
  return { control, ...(typeof d.tokenFile === "string" ? { tokenFile: d.tokenFile } : {}), ...(tls ? { tls } : {}), proxies };
}
