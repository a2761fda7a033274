// Compiles a rule's `match` against a protocol's table of match fields into one predicate.
import type { MatchValue } from "./rule.js";
import { RuleError, type MatchKind, type RequestInfo } from "./protocol.js";

export type Matcher = (info: RequestInfo) => boolean;

/** A glob (* any run, ? one character) as an anchored regular expression. */
export function globToRegExp(glob: string, flags = ""): RegExp {
  let re = "";
  for (const ch of glob) {
    if (ch === "*") re += "[\\s\\S]*";
    else if (ch === "?") re += "[\\s\\S]";
    else re += ch.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`, flags);
}

function fieldMatcher(name: string, kind: MatchKind, value: MatchValue): (info: RequestInfo) => boolean {
  const at = `match.${name}`;
  switch (kind) {
    case "regex": {
      if (typeof value !== "string") throw new RuleError(at, `expected a regular expression (text), got ${JSON.stringify(value)}`);
      let re: RegExp;
      try {
        re = new RegExp(value, "i");
      } catch (err) {
        throw new RuleError(at, `bad regular expression ${JSON.stringify(value)}: ${(err as Error).message}`);
      }
      return (info) => {
        const v = info.fields[name];
        return v !== undefined && re.test(v);
      };
    }
    case "glob":
    case "iglob": {
      if (typeof value !== "string") throw new RuleError(at, `expected a glob (text), got ${JSON.stringify(value)}`);
      const re = globToRegExp(value, kind === "iglob" ? "i" : "");
      return (info) => {
        const v = info.fields[name];
        return v !== undefined && re.test(v);
      };
    }
    case "names": {
      const list = typeof value === "string" ? [value] : Array.isArray(value) ? value : null;
      if (list === null) throw new RuleError(at, `expected a name or a list of names, got ${JSON.stringify(value)}`);
      const set = new Set(list.map((n) => n.toUpperCase()));
      return (info) => {
        const v = info.fields[name];
        // most values come as the rule names them (GET, SET): only the others are upper-cased
        return v !== undefined && (set.has(v) || set.has(v.toUpperCase()));
      };
    }
    case "globMap": {
      if (typeof value !== "object" || Array.isArray(value)) throw new RuleError(at, `expected a map of name: glob, got ${JSON.stringify(value)}`);
      const checks = Object.entries(value).map(([k, g]) => [k.toLowerCase(), globToRegExp(g)] as const);
      return (info) => {
        const map = info.maps?.[name];
        if (map === undefined) return false;
        return checks.every(([k, re]) => {
          // own entries only: a key like "constructor" never reads the map's prototype
          const v = Object.hasOwn(map, k) ? map[k] : undefined;
          return typeof v === "string" && re.test(v);
        });
      };
    }
  }
}

/** One predicate for a whole `match` (every field must fit; {} fits all). */
export function compileMatch(protocol: string, table: Readonly<Record<string, MatchKind>>, match: Record<string, MatchValue>): Matcher {
  const parts: Matcher[] = [];
  for (const [name, value] of Object.entries(match)) {
    const kind = Object.hasOwn(table, name) ? table[name] : undefined;
    if (kind === undefined) {
      throw new RuleError(`match.${name}`, `the ${protocol} protocol has no match field ${JSON.stringify(name)} (it has ${Object.keys(table).join(", ")})`);
    }
    parts.push(fieldMatcher(name, kind, value));
  }
  if (parts.length === 0) return () => true;
  if (parts.length === 1) return parts[0]!;
  return (info) => parts.every((p) => p(info));
}
