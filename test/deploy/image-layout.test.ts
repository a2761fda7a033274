// What the runtime image holds is enough to run the agent: the files its COPY lines place
// (laid out under a temp root as the image would have them) start an agent that finds its
// built-in profiles, and the compiled code imports no package `npm ci --omit=dev` leaves out.
import { test } from "node:test";
import assert from "node:assert/strict";
import { cpSync, readdirSync, readFileSync, statSync, symlinkSync, mkdirSync } from "node:fs";
import { builtinModules } from "node:module";
import { dirname, join, posix } from "node:path";
import { instructions, parseContainerfile, parseCopy, type Stage } from "./containerfile.js";
import { repoPath } from "./repo-path.js";
import { startHealthyAgent, tempDir, writeConfigCopy } from "./agent-process.js";

const stages = parseContainerfile(readFileSync(repoPath("agent/Containerfile"), "utf8"));
const runtime = stages.at(-1)!;
const pkg = JSON.parse(readFileSync(repoPath("package.json"), "utf8")) as { dependencies: Record<string, string>; bin: Record<string, string> };

function workdir(stage: Stage): string {
  return instructions(stage, "WORKDIR").at(-1)?.args ?? "/";
}

function jsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? jsFiles(p) : p.endsWith(".js") ? [p] : [];
  });
}

test("the compiled agent imports only node built-ins and production dependencies", () => {
  const builtins = new Set(builtinModules);
  const files = jsFiles(repoPath("dist/src"));
  assert.ok(files.length > 10, `dist/src holds ${files.length} files: run tsc first`);
  const offenders: string[] = [];
  for (const file of files) {
    const code = readFileSync(file, "utf8");
    // static imports/re-exports (statements at line start, as tsc emits them) and dynamic import("x")
    const specs = [
      ...code.matchAll(/^\s*(?:import|export)\b[^;"]*?\bfrom\s*"([^"]+)"/gm),
      ...code.matchAll(/^\s*import\s*"([^"]+)"/gm),
      ...code.matchAll(/\bimport\(\s*"([^"]+)"\s*\)/g),
    ].map((m) => m[1]!);
    for (const spec of specs) {
      if (spec.startsWith(".")) continue;
      if (spec.startsWith("node:") || builtins.has(spec)) continue;
      const name = spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0]!;
      if (!(name in pkg.dependencies)) offenders.push(`${file.slice(repoPath().length + 1)} imports ${spec}`);
    }
  }
  assert.deepEqual(offenders, [], "the runtime image installs dependencies only (npm ci --omit=dev)");
});

test("the runtime image's files start the agent, which finds its built-in profiles", async () => {
  const dir = await tempDir();
  const root = dir.file("image");
  const build = stages.find((s) => s.name === "build")!;
  const place = (from: string, to: string) => {
    mkdirSync(dirname(to), { recursive: true });
    cpSync(from, to, { recursive: true, filter: (src) => !src.includes(`${join("dist", "test")}`) });
  };
  try {
    for (const copy of instructions(runtime, "COPY").map(parseCopy)) {
      const dest = posix.resolve(workdir(runtime), copy.dest);
      if (copy.from === "build") {
        // a path of the build stage is a path of this checkout relative to its WORKDIR
        const rel = posix.relative(workdir(build), copy.sources[0]!);
        place(repoPath(rel), join(root, dest));
      } else {
        assert.equal(copy.from, undefined, `COPY --from=${copy.from}: unknown stage`);
        const intoDir = copy.dest.endsWith("/");
        assert.ok(intoDir || copy.sources.length === 1, `COPY ${copy.sources.join(" ")} ${copy.dest}: several sources need a directory destination`);
        for (const src of copy.sources) place(repoPath(src), join(root, intoDir ? posix.join(dest, posix.basename(src)) : dest));
      }
    }
    // what `npm ci --omit=dev` puts there (this checkout's node_modules: a superset)
    symlinkSync(repoPath("node_modules"), join(root, workdir(runtime), "node_modules"), "dir");

    const entry = join(root, workdir(runtime), "dist", posix.relative("dist", pkg.bin.netimpair!));
    const config = join(root, "etc/netimpair/netimpair.yaml");
    const { agent } = await startHealthyAgent(async (port) => {
      await writeConfigCopy(config, config, (c) => {
        c.control = `127.0.0.1:${port}`;
        delete c.tokenFile;
        // a built-in profile at start: fails unless the image holds profiles/ where the agent looks
        c.proxies = [{ name: "pg", listen: "127.0.0.1:0", upstream: "127.0.0.1:5432", profile: "4g" }];
      });
      return ["agent", "--config", config];
    }, entry);
    try {
      assert.equal(await agent.stop(), 0, agent.output());
    } finally {
      await agent.stop();
    }
  } finally {
    await dir.remove();
  }
});
