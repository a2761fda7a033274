// `netimpair apply PROFILE (--proxy NAME... | --all) [--set PATH=VALUE]... [--request RULE]... [--for DUR] [--percent N] [--client CIDR]...`
import { readFile, stat } from "node:fs/promises";
import type { Command } from "commander";
import { parse as parseYaml } from "yaml";
import type { ApplyResult } from "../../control/protocol.js";
import { formatDuration } from "../../units.js";
import { cidrFlag, collect, durationFlag, percentFlag, proxySelection, setFlags } from "../flags.js";
import { fleetContext } from "../globals.js";
import { perAgentLines, report, UsageError } from "../output.js";
import { describeSet } from "../status-view.js";

interface ApplyFlags {
  proxy?: string[];
  all?: boolean;
  set?: string[];
  for?: string;
  percent?: string;
  client?: string[];
  request?: string[];
}

/** `--request '{match: {query: "^COMMIT"}, fail: {code: "40001"}}'`: one request rule as YAML (flow) or JSON. */
export function requestFlag(text: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new UsageError(`--request ${JSON.stringify(text)}: not valid YAML: ${(err as Error).message.split("\n")[0]}`);
  }
  if (!doc || typeof doc !== "object" || Array.isArray(doc)) {
    throw new UsageError(`--request ${JSON.stringify(text)}: expected a rule like '{match: {command: SET}, fail: {error: OOM}}'`);
  }
  return doc as Record<string, unknown>;
}

/** What PROFILE names: a profile on the agent, or a YAML file sent as an inline spec. */
export type ProfileArg = { profile: string } | { spec: Record<string, unknown>; file: string };

function looksLikeFile(arg: string): boolean {
  return /\.ya?ml$/i.test(arg) || arg.includes("/") || arg.includes("\\");
}

export async function readProfileArg(arg: string): Promise<ProfileArg> {
  if (!looksLikeFile(arg)) return { profile: arg };
  let text: string;
  try {
    if (!(await stat(arg)).isFile()) throw new UsageError(`PROFILE ${JSON.stringify(arg)}: not a file`);
    text = await readFile(arg, "utf8");
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`PROFILE ${JSON.stringify(arg)}: cannot read the profile file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new UsageError(`PROFILE ${JSON.stringify(arg)}: not valid YAML: ${(err as Error).message.split("\n")[0]}`);
  }
  if (!doc || typeof doc !== "object" || Array.isArray(doc)) {
    throw new UsageError(`PROFILE ${JSON.stringify(arg)}: expected a profile mapping (e.g. down: {delay: 100ms}), got ${JSON.stringify(doc)}`);
  }
  return { spec: doc as Record<string, unknown>, file: arg };
}

export function describeApplied(r: ApplyResult): string {
  const until = r.expiresAt ? ` until ${r.expiresAt}` : "";
  const set = r.set !== undefined && Object.keys(r.set).length > 0 ? ` with ${describeSet(r.set)}` : "";
  return `${r.proxy}: applied ${r.profile}${set}${until}`;
}

export function registerApply(program: Command): void {
  program
    .command("apply")
    .description("apply a profile (name, or a YAML file) to proxies")
    .argument("<profile>", "profile name or path to a profile YAML file")
    .option("--proxy <name>", "proxy to impair (repeatable)", collect)
    .option("--all", "every proxy of the agent")
    .option("--set <path=value>", "override one field, e.g. down.delay=200ms (repeatable)", collect)
    .option("--for <duration>", "revert after this long (ttl)")
    .option("--percent <n>", "share of connections impaired, 0-100")
    .option("--client <cidr>", "only impair clients in this CIDR (repeatable)", collect)
    .option("--request <rule>", "a request rule (protocol proxies), YAML: '{match: {query: \"^COMMIT\"}, fail: {code: \"40001\"}}' (repeatable, in order)", collect)
    .action(async (profileArg: string, flags: ApplyFlags, cmd: Command) => {
      const proxies = proxySelection(flags.proxy, flags.all);
      const set = setFlags(flags.set ?? []);
      const ttl = flags.for !== undefined ? durationFlag("--for", flags.for) : undefined;
      const percent = flags.percent !== undefined ? percentFlag("--percent", flags.percent) : undefined;
      const clients = flags.client?.map((c) => cidrFlag("--client", c));
      const what = await readProfileArg(profileArg);
      const requests = flags.request?.map(requestFlag);
      const spec = requests !== undefined ? { ...("spec" in what ? what.spec : {}), requests } : "spec" in what ? what.spec : undefined;
      const ctx = await fleetContext(cmd);
      const outcomes = await ctx.run(async (client) => {
        const results: ApplyResult[] = [];
        for (const proxy of proxies) {
          const r = await client.apply(proxy, "profile" in what ? what.profile : undefined, {
            bindToSession: false,
            ...(spec !== undefined ? { spec } : {}),
            ...(set !== undefined ? { set } : {}),
            ...(ttl !== undefined ? { ttl } : {}),
            ...(percent !== undefined ? { percent } : {}),
            ...(clients !== undefined ? { clients } : {}),
          });
          results.push(...(Array.isArray(r) ? r : [r]));
        }
        return results;
      });
      const extras = [
        ttl !== undefined ? `for ${formatDuration(ttl)}` : "",
        percent !== undefined ? `${percent}% of connections` : "",
        clients !== undefined ? `clients ${clients.join(",")}` : "",
      ].filter((s) => s !== "");
      process.exitCode = report(outcomes, ctx.json, (ok, multi) =>
        perAgentLines(ok, multi, (rs) =>
          rs.length === 0 ? ["no proxies"] : rs.map((r) => describeApplied(r) + (extras.length ? ` (${extras.join(", ")})` : "")),
        ),
      );
    });
}
