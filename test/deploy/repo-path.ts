// Paths inside the repository, whether a test runs from dist/test/... or from test/... (tsx).
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

function findRepoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, "package.json")) && existsSync(join(dir, "tsconfig.json"))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`repository root not found above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

export const repoRoot: string = findRepoRoot();

export function repoPath(...parts: string[]): string {
  return resolve(repoRoot, ...parts);
}
