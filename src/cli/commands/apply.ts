// `netimpair apply PROFILE (--proxy NAME... | --all) [--set PATH=VALUE]... [--request RULE]... [--for DUR] [--percent N] [--client CIDR]...`
import { readFile, stat } from "node:fs/promises";
import type { Command } from "commander";
import { basename } from "node:path";
import { LineCounter, parse as parseYaml, parseDocument } from "yaml";
import { makeLocator, yamlData, type LineLocator } from "../../profiles/load.js";
import { PROFILE_NAME_PATTERN } from "../../profiles/schema.js";
import type { FieldLabeller } from "../fleet.js";
import type { ApplyResult } from "../../control/protocol.js";
import { formatDuration } from "../../units.js";
import { cidrFlag, collect, durationFlag, paramLabels, percentFlag, proxySelection, setFlags } from "../flags.js";
import { fleetContext } from "../globals.js";
import { perAgentLines, report, UsageError } from "../output.js";
import { describeSet, describeRequestRules } from "../status-view.js";

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
    // yaml's first line ends in a colon that introduces the snippet below it
    throw new UsageError(`--request ${JSON.stringify(text)}: not valid YAML: ${(err as Error).message.split("\n")[0]!.replace(/:\s*$/, "")}`);
  }
  if (!doc || typeof doc !== "object" || Array.isArray(doc)) {
    throw new UsageError(`--request ${JSON.stringify(text)}: expected a rule like '{match: {command: SET}, fail: {error: OOM}}'`);
  }
  return doc as Record<string, unknown>;
}

/** What PROFILE names: a profile on the agent, or a YAML file sent as an inline spec. */
export type ProfileArg = { profile: string } | { spec: Record<string, unknown>; file: string; locate: LineLocator };

function looksLikeFile(arg: string): boolean {
  return /\.ya?ml$/i.test(arg) || arg.includes("/") || arg.includes("\\");
}

/** The name an inline spec from a file is shown by when it has no `name:`: the file's base name. */
export function fileProfileName(file: string): string {
  const base = basename(file).replace(/[^A-Za-z0-9._-]/g, "-").replace(/^[^A-Za-z0-9]+/, "").slice(0, 64);
  return PROFILE_NAME_PATTERN.test(base) ? base : "custom";
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
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const yamlError = doc.errors[0];
  if (yamlError !== undefined) throw new UsageError(`${arg}:${lines.linePos(yamlError.pos[0]).line}: not valid YAML: ${yamlError.message.split("\n")[0]}`);
  const data = yamlData(doc);
  if (!data.ok) throw new UsageError(`${arg}: ${data.message}`);
  const raw = data.value;
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) {
    throw new UsageError(`${arg}: expected a profile mapping (e.g. down: {delay: 100ms}), got ${JSON.stringify(raw) ?? "nothing"}`);
  }
  // the profile's own name, else the file's, is what status and apply show (not "custom")
  const spec = raw as Record<string, unknown>;
  if (spec.name === undefined) spec.name = fileProfileName(arg);
  return { spec, file: arg, locate: makeLocator(doc, lines) };
}

/**
 * Names the fields of an impair.apply refusal by where the user wrote them: `--set down.delay`,
 * `bad.yaml:5: down.delay` for a profile file, `--request "{...}": fail.code`, `--for`...
 */
export function applyLabels(what: ProfileArg, requestTexts: readonly string[] | undefined): FieldLabeller {
  const flags = paramLabels({ set: "--set", ttl: "--for", percent: "--percent", clients: "--client", proxy: "--proxy", profile: "PROFILE" });
  return (path) => {
    const p = path.replace(/^params\./, "");
    const request = /^(?:spec\.)?requests(?:\[(\d+)\](?:\.(.+))?)?$/.exec(p);
    if (request && requestTexts !== undefined) {
      const text = request[1] !== undefined ? requestTexts[Number(request[1])] : undefined;
      const flag = text !== undefined ? `--request ${JSON.stringify(text)}` : "--request";
      return request[2] !== undefined ? `${flag}: ${request[2]}` : flag;
    }
    // the rules of a named profile: say which profile carries them (a proxy that refuses them is named in the message)
    if (request && "profile" in what) return `${what.profile}: ${p}`;
    if ("spec" in what && (p.startsWith("spec.") || request)) {
      const field = p.replace(/^spec\./, "");
      const line = what.locate(field.replace(/\[(\d+)\]/g, ".$1"));
      return `${what.file}${line !== null ? `:${line}` : ""}: ${field}`;
    }
    return flags(path);
  };
}

export function describeApplied(r: ApplyResult): string {
  const until = r.expiresAt ? ` until ${r.expiresAt}` : "";
  const withs = [r.set !== undefined && Object.keys(r.set).length > 0 ? describeSet(r.set) : null, describeRequestRules(r.spec)].filter((w): w is string => w !== null);
  const set = withs.length > 0 ? ` with ${withs.join(" and ")}` : "";
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
      }, applyLabels(what, flags.request));
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
