// The house stays as docs/architecture.md draws it: no import cycle between files of src/, the
// folders that must not look back do not, and no stray file (profiler logs, heap snapshots,
// captures) is tracked.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { repoRoot } from "../deploy/repo-path.js";
import { cycles, importGraph } from "./import-graph.js";

const graph = importGraph(repoRoot, "src");

/** folder under src/ -> folders under src/ it must never import */
const NEVER: Record<string, string[]> = {
  report: ["scenario", "experiment", "cli", "agent"],
  experiment: ["scenario", "cli", "agent"],
  requests: ["agent", "cli", "control"],
  protocols: ["agent", "cli", "control", "relay"],
  link: ["agent", "cli", "control", "requests", "protocols", "relay"],
};

function folderOf(file: string): string {
  const parts = file.split("/");
  return parts.length > 2 ? parts[1]! : "";
}

describe("house: the import graph of src/", () => {
  it("reads every source file and finds their imports", () => {
    assert.ok(graph.size > 100, `only ${graph.size} files read under src/`);
    assert.ok(graph.get("src/cli/main.ts")?.length, "src/cli/main.ts has no imports: the reader is broken");
  });

  it("has no import cycle between files (type-only imports count)", () => {
    const found = cycles(graph);
    assert.deepEqual(found.map((c) => c.join(" -> ")), [], "import cycles in src/");
  });

  it("has folders that do not import back", () => {
    const wrong: string[] = [];
    for (const [file, deps] of graph) {
      const banned = NEVER[folderOf(file)] ?? [];
      for (const dep of deps) if (banned.includes(folderOf(dep))) wrong.push(`${file} imports ${dep}`);
    }
    assert.deepEqual(wrong, []);
  });
});

describe("house: tracked files", () => {
  it("tracks no profiler log, heap snapshot, cpu profile or capture", () => {
    const files = execFileSync("git", ["ls-files"], { cwd: repoRoot, encoding: "utf8" }).split("\n");
    assert.ok(files.length > 100, "git ls-files listed almost nothing");
    const stray = files.filter((f) => /(^|\/)isolate-[^/]*\.log$|\.cpuprofile$|\.heapsnapshot$|\.heapprofile$|\.pcapng?$/.test(f));
    assert.deepEqual(stray, []);
  });
});
