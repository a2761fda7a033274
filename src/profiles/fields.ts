// Walking parsed YAML/JSON for a validator that reports one FieldError per bad field with a
// dotted path (`steps.2.ramp.over`): the pieces the scenario and experiment schemas share.
import type { FieldError } from "../field-error.js";
import { showValue } from "../units.js";
import { suggest } from "./schema.js";

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** `path.key`, or `key` at the top. */
export function join(path: string, key: string | number): string {
  return path === "" ? String(key) : `${path}.${key}`;
}

/** A value as an error message shows it ("a list [...]" for a list). */
export function describe(v: unknown): string {
  return Array.isArray(v) ? `a list ${showValue(v)}` : showValue(v);
}

/** Collects FieldErrors; a schema's own checker extends it with its field types. */
export class FieldChecker {
  readonly errors: FieldError[] = [];

  add(path: string, message: string): void {
    this.errors.push({ path, message });
  }

  /** One error per key of `o` not in `known`, with a "did you mean" where one is close. */
  unknownKeys(o: Record<string, unknown>, known: readonly string[], path: string): void {
    for (const key of Object.keys(o)) {
      if (known.includes(key)) continue;
      const close = suggest(key, known);
      this.add(join(path, key), `unknown field ${JSON.stringify(key)}${close ? ` (did you mean ${close}?)` : ` (known fields: ${known.join(", ")})`}`);
    }
  }
}
