// The profiles an agent knows: built-ins (the package's profiles/ folder), user directories
// (later ones override earlier ones and built-ins by name) and profiles defined at run time.
// `clean` cannot be replaced: applying clean means clearing. A file's name is its profile's name;
// a `name:` inside that differs is an error (a copied file left unrenamed is a likely mistake).
import { existsSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { FieldError } from "../field-error.js";
import {
  formatFileError,
  locateErrors,
  profileNameOfFile,
  readProfileFile,
  type LineLocator,
  type LoadedProfileFile,
  type ProfileFileError,
} from "./load.js";
import { resolveProfile } from "./resolve.js";
import { validateProfile, type ProfileDraft } from "./schema.js";
import type { ResolvedProfile } from "./types.js";

export type ProfileOrigin = "builtin" | "file" | "defined";

interface Entry {
  draft: ProfileDraft;
  origin: ProfileOrigin;
  /** the file it came from, if any */
  file?: string;
  locate?: LineLocator;
}

/** The package's built-in profiles folder (dist/src/profiles/ -> profiles/, or src/profiles/ under tsx). */
export function builtinProfilesDir(): string {
  const candidates = ["../../../profiles/", "../../profiles/"].map((rel) => fileURLToPath(new URL(rel, import.meta.url)));
  return candidates.find((dir) => existsSync(join(dir, "clean.yaml"))) ?? candidates[0]!;
}

export const CLEAN_PROFILE = "clean";

export class ProfileRegistry {
  /** problems met while loading (FILE:LINE: PATH: MESSAGE); bad files are skipped, never fatal */
  readonly loadErrors: string[] = [];
  private readonly entries = new Map<string, Entry>();
  /** profile name -> why its file was skipped (FILE:LINE: PATH: MESSAGE each), for "not found" answers */
  private readonly failures = new Map<string, string[]>();
  private readonly resolved = new Map<string, ResolvedProfile>();

  /** A registry with only `clean` (for tests and embedding without files). */
  static empty(): ProfileRegistry {
    const r = new ProfileRegistry();
    r.entries.set(CLEAN_PROFILE, { draft: { name: CLEAN_PROFILE, description: "no impairment", spec: {} }, origin: "builtin" });
    return r;
  }

  /**
   * Loads the built-in profiles, then each user directory in order (a later one overrides an
   * earlier one and the built-ins by name). Problems go to loadErrors; they never throw.
   */
  static async load(dirs: readonly string[] = [], options: { builtinsDir?: string | null } = {}): Promise<ProfileRegistry> {
    const registry = ProfileRegistry.empty();
    const builtins = options.builtinsDir === undefined ? builtinProfilesDir() : options.builtinsDir;
    if (builtins !== null) await registry.loadDirFiles(builtins, "builtin");
    for (const dir of dirs) await registry.loadDirFiles(dir, "file");
    registry.dropUnresolvable();
    return registry;
  }

  /** Profile names, sorted. */
  names(): string[] {
    return [...this.entries.keys()].sort();
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** Why the file of profile `name` failed to load (one line per problem), or undefined. */
  loadFailure(name: string): string[] | undefined {
    if (this.entries.has(name)) return undefined;
    const why = this.failures.get(name);
    return why === undefined ? undefined : [...why];
  }

  private failed(name: string | undefined, problems: string[]): void {
    this.loadErrors.push(...problems);
    if (name !== undefined) this.failures.set(name, [...(this.failures.get(name) ?? []), ...problems]);
  }

  /** The validated, unresolved profile (what resolve.ts merges). */
  draft(name: string): ProfileDraft | undefined {
    return this.entries.get(name)?.draft;
  }

  /** Where a profile came from. */
  origin(name: string): { origin: ProfileOrigin; file?: string } | undefined {
    const e = this.entries.get(name);
    if (!e) return undefined;
    return e.file === undefined ? { origin: e.origin } : { origin: e.origin, file: e.file };
  }

  /** The resolved profile (extends applied), or undefined when unknown. */
  get(name: string): ResolvedProfile | undefined {
    const cached = this.resolved.get(name);
    if (cached) return structuredClone(cached);
    if (!this.entries.has(name)) return undefined;
    const result = resolveProfile((n) => this.draft(n), name);
    if (!result.ok) return undefined;
    this.resolved.set(name, result.profile);
    return structuredClone(result.profile);
  }

  /**
   * Defines (or replaces) a profile in memory from a raw profile object. A name is required;
   * `clean` cannot be replaced. It may extend any known profile.
   */
  define(raw: unknown): { ok: true; profile: ResolvedProfile } | { ok: false; errors: FieldError[] } {
    const { draft, errors } = validateProfile(raw);
    if (errors.length > 0) return { ok: false, errors };
    if (draft.name === undefined) {
      return { ok: false, errors: [{ path: "name", message: "a defined profile needs a name" }] };
    }
    const refused = this.refuseName(draft.name);
    if (refused) return { ok: false, errors: [{ path: "name", message: refused }] };
    return this.insert(draft.name, { draft, origin: "defined" });
  }

  /**
   * Loads one profile file (name = file name) and checks it resolves. On failure nothing
   * changes and the errors name file, line, field and value.
   */
  async loadFile(
    file: string,
    origin: Exclude<ProfileOrigin, "defined"> = "file",
  ): Promise<{ ok: true; profile: ResolvedProfile } | { ok: false; errors: ProfileFileError[] }> {
    const read = await readProfileFile(file);
    if (!read.ok) return read;
    const p = read.profile;
    const refused = origin === "builtin" ? undefined : this.refuseName(p.name);
    if (refused) return { ok: false, errors: [{ file, line: null, path: "", message: refused }] };
    const result = this.insert(p.name, this.entryOf(p, origin));
    if (!result.ok) return { ok: false, errors: locateErrors(file, p.locate, result.errors) };
    return result;
  }

  // ---------------------------------------------------------------- internals

  private refuseName(name: string): string | undefined {
    return name === CLEAN_PROFILE ? `"${CLEAN_PROFILE}" is built in and cannot be replaced (applying clean means clearing)` : undefined;
  }

  private entryOf(p: LoadedProfileFile, origin: Exclude<ProfileOrigin, "defined">): Entry {
    return { draft: p.draft, origin, file: p.file, locate: p.locate };
  }

  /** Puts an entry in and resolves it (and everything that extends it); rolls back on failure. */
  private insert(name: string, entry: Entry): { ok: true; profile: ResolvedProfile } | { ok: false; errors: FieldError[] } {
    const previous = this.entries.get(name);
    this.entries.set(name, entry);
    const result = resolveProfile((n) => this.draft(n), name);
    if (!result.ok) {
      if (previous) this.entries.set(name, previous);
      else this.entries.delete(name);
      return { ok: false, errors: result.errors };
    }
    this.resolved.clear();
    return { ok: true, profile: structuredClone(result.profile) };
  }

  /** Reads every profile file of a directory (not resolved yet: they may extend each other). */
  private async loadDirFiles(dir: string, origin: Exclude<ProfileOrigin, "defined">): Promise<void> {
    let names: string[];
    try {
      names = (await readdir(dir)).filter((f) => profileNameOfFile(f) !== undefined).sort();
    } catch (err) {
      const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      this.loadErrors.push(`${dir}: cannot read the profiles directory (${reason})`);
      return;
    }
    for (const f of names) {
      const file = join(dir, f);
      const read = await readProfileFile(file);
      if (!read.ok) {
        this.failed(profileNameOfFile(f), read.errors.map(formatFileError));
        continue;
      }
      const refused = origin === "builtin" ? undefined : this.refuseName(read.profile.name);
      if (refused) {
        this.loadErrors.push(formatFileError({ file, line: null, path: "", message: refused }));
        continue;
      }
      this.entries.set(read.profile.name, this.entryOf(read.profile, origin));
    }
    this.resolved.clear();
  }

  /** Removes profiles that do not resolve (missing extends, cycles, incomplete faults), reporting each. */
  private dropUnresolvable(): void {
    for (;;) {
      const bad: [string, FieldError[]][] = [];
      for (const name of this.entries.keys()) {
        const result = resolveProfile((n) => this.draft(n), name);
        if (!result.ok) bad.push([name, result.errors]);
      }
      if (bad.length === 0) break;
      // A profile failing only because what it extends fails is judged again once that is gone
      // (it then reports the missing profile); a cycle has no such first member, so all go.
      const badNames = new Set(bad.map(([name]) => name));
      const firstFailures = bad.filter(([name]) => {
        const base = this.entries.get(name)!.draft.extends;
        return base === undefined || !badNames.has(base);
      });
      for (const [name, errors] of firstFailures.length > 0 ? firstFailures : bad) {
        const entry = this.entries.get(name)!;
        const located = entry.file
          ? locateErrors(entry.file, entry.locate ?? (() => null), errors)
          : errors.map((e) => ({ file: `profile ${name}`, line: null, path: e.path, message: e.message }));
        this.failed(name, located.map(formatFileError));
        this.entries.delete(name);
      }
    }
    this.resolved.clear();
  }
}
