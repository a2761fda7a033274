// The example scenarios shipped in profiles/scenarios/ load, and every profile they name is built in.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { loadScenarioFile } from "../../src/scenario/load.js";
import { planTimeline } from "../../src/scenario/plan.js";
import { ProfileRegistry } from "../../src/profiles/registry.js";
import { resolveImpairment } from "../../src/profiles/resolve.js";

const dir = fileURLToPath(new URL("../../../profiles/scenarios/", import.meta.url));

test("every example scenario loads, names built-in profiles, and its inline specs resolve", async () => {
  const files = readdirSync(dir).filter((f) => f.endsWith(".yaml"));
  assert.ok(files.length >= 4, `examples: ${files.join(", ")}`);
  const registry = await ProfileRegistry.load([]);
  for (const f of files) {
    const scenario = await loadScenarioFile(join(dir, f));
    assert.ok(scenario.steps.length > 0, f);
    for (const step of scenario.steps) {
      const a = step.action;
      const names = a.kind === "apply" && a.profile ? [a.profile] : a.kind === "ramp" ? [a.from, a.to] : [];
      for (const n of names) assert.ok(registry.names().includes(n), `${f} ${step.path}: profile ${n} is not built in`);
      if (a.kind === "apply") {
        const r = resolveImpairment(registry, { ...(a.profile ? { profile: a.profile } : {}), ...(a.spec ? { spec: a.spec } : {}), ...(a.set ? { set: a.set } : {}) });
        assert.ok(r.ok, `${f} ${step.path}: ${JSON.stringify(r)}`);
      }
      if (a.kind === "trace") assert.ok(a.rows.length > 1, `${f}: trace rows`);
    }
    const plan = planTimeline(scenario, ["pg", "api"]);
    assert.ok(plan.actions.length >= scenario.steps.length, f);
  }
});

test("the commute and rollout examples play in the order their names promise", async () => {
  const commute = await loadScenarioFile(join(dir, "mobile-commute.yaml"));
  const applied = commute.steps.map((s) => (s.action.kind === "apply" ? s.action.profile : s.action.kind === "ramp" ? `${s.action.from}>${s.action.to}` : s.action.kind));
  assert.deepEqual(applied, ["4g", "4g>3g", "3g", "2g", "2g>4g", "clear"]);
  const rollout = await loadScenarioFile(join(dir, "db-reset-rollout.yaml"));
  const shares = rollout.steps.flatMap((s) => (s.action.kind === "apply" && s.action.spec ? [(s.action.spec.reset as { probability: string }).probability] : []));
  assert.deepEqual(shares, ["1%", "5%", "25%"]);
});
