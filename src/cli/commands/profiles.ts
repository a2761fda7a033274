// `netimpair profiles ls` · `netimpair profiles show NAME`
import type { Command } from "commander";
import { stringify as toYaml } from "yaml";
import type { ResolvedProfile } from "../../profiles/types.js";
import { formatBandwidth, formatDuration, formatProbability, formatSize } from "../../units.js";
import { paramLabels } from "../flags.js";
import { fleetContext } from "../globals.js";
import { renderTable, report } from "../output.js";

const DURATION_FIELDS = new Set(["delay", "jitter", "rto", "after", "every", "duration", "hold"]);
const SIZE_FIELDS = new Set(["afterBytes", "bytes", "size"]);
const PROBABILITY_FIELDS = new Set(["probability", "loss", "refuse", "pGoodToBad", "pBadToGood", "lossInBad", "lossInGood"]);

/** A resolved spec in the units people write (200ms, 1.6Mbps, 5%), for reading. */
export function humanizeSpec(value: unknown, key = ""): unknown {
  if (value === null || value === undefined) return value;
  if (key === "requests" && Array.isArray(value)) return value.map(humanizeRule);
  if (Array.isArray(value)) return value.map((v) => humanizeSpec(v));
  if (typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) out[k] = humanizeSpec(v, k);
    return out;
  }
  if (typeof value === "number") {
    if (key === "bandwidth") return formatBandwidth(value);
    if (DURATION_FIELDS.has(key)) return formatDuration(value);
    if (SIZE_FIELDS.has(key)) return formatSize(value);
    if (PROBABILITY_FIELDS.has(key)) return formatProbability(value);
  }
  return value;
}

/**
 * A request rule: `after` and `times` are counts of requests and `match`/`fail` are the
 * protocol's own values, so only its delay and probability take units.
 */
function humanizeRule(rule: unknown): unknown {
  if (rule === null || typeof rule !== "object" || Array.isArray(rule)) return rule;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(rule as Record<string, unknown>)) {
    if (k === "delay" && typeof v === "number") out[k] = formatDuration(v);
    else if (k === "probability" && typeof v === "number") out[k] = formatProbability(v);
    else out[k] = v;
  }
  return out;
}

/**
 * A resolved profile as a profile file: name, description, source, then every spec field. It is
 * valid input again (`profiles show X > x.yaml`, `apply x.yaml`, or a profiles directory) and
 * resolves to the same spec; the chain it extends is already applied, so it is only a comment.
 */
export function describeProfile(p: ResolvedProfile): string {
  const head: Record<string, unknown> = { name: p.name };
  if (p.description) head.description = p.description;
  if (p.source) head.source = p.source;
  Object.assign(head, humanizeSpec(p.spec));
  const chain = p.extends.length > 0 ? `# extends ${p.extends.join(" -> ")} (resolved: every field below)\n` : "";
  return chain + toYaml(head, { lineWidth: 0 }).trimEnd();
}

export function registerProfiles(program: Command): void {
  const profiles = program.command("profiles").description("the agent's profiles");

  profiles
    .command("ls")
    .description("list profiles with their descriptions")
    .action(async (_flags: Record<string, never>, cmd: Command) => {
      const ctx = await fleetContext(cmd);
      const outcomes = await ctx.run(async (client) => {
        const names = await client.profiles();
        return Promise.all(
          names.map(async (name) => {
            const p = await client.profile(name);
            return { name, description: p.description, extends: p.extends };
          }),
        );
      });
      process.exitCode = report(outcomes, ctx.json, (ok, multi) => {
        const headers = multi ? ["AGENT", "PROFILE", "DESCRIPTION"] : ["PROFILE", "DESCRIPTION"];
        const rows = ok.flatMap((o) => o.result.map((p) => (multi ? [o.agent, p.name, p.description] : [p.name, p.description])));
        return renderTable(headers, rows);
      });
    });

  profiles
    .command("show")
    .description("a profile fully resolved (extends applied)")
    .argument("<name>", "profile name")
    .action(async (name: string, _flags: Record<string, never>, cmd: Command) => {
      const ctx = await fleetContext(cmd);
      const outcomes = await ctx.run((client) => client.profile(name), paramLabels({ name: "NAME" }));
      process.exitCode = report(outcomes, ctx.json, (ok, multi) =>
        ok.map((o) => (multi ? `# ${o.agent}\n` : "") + describeProfile(o.result)).join("\n---\n"),
      );
    });
}
