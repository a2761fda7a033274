// Reading profile files: YAML -> validated draft, with every error located at a file and line.
import { readFile } from "node:fs/promises";
import { basename, extname } from "node:path";
import { isMap, isSeq, LineCounter, parseDocument, type Document } from "yaml";
import type { FieldError } from "../field-error.js";
import { PROFILE_NAME_PATTERN, validateProfile, type ProfileDraft } from "./schema.js";

/** One problem of a profile file: where it is and what is wrong. */
export interface ProfileFileError {
  file: string;
  /** 1-based line, or null when the problem is the file as a whole */
  line: number | null;
  /** field path (e.g. down.bandwidth), "" for the file itself */
  path: string;
  message: string;
}

/** "FILE:LINE: PATH: MESSAGE", the form printed to users and kept in loadErrors. */
export function formatFileError(e: ProfileFileError): string {
  const where = e.line === null ? e.file : `${e.file}:${e.line}`;
  return e.path === "" ? `${where}: ${e.message}` : `${where}: ${e.path}: ${e.message}`;
}

/** Alias expansions a document may make: beyond it, it is refused (a "billion laughs" alias bomb). */
export const MAX_YAML_ALIASES = 100;

/**
 * A parsed YAML document as plain data, or why not: a document whose aliases expand past
 * MAX_YAML_ALIASES (an alias bomb) is refused with a message, never thrown at the caller.
 */
export function yamlData(doc: Document.Parsed): { ok: true; value: unknown } | { ok: false; message: string } {
  try {
    return { ok: true, value: doc.toJS({ maxAliasCount: MAX_YAML_ALIASES }) };
  } catch (err) {
    if (err instanceof ReferenceError && /alias/i.test(err.message)) {
      return { ok: false, message: `refused: its aliases expand past ${MAX_YAML_ALIASES} (an alias bomb, "billion laughs")` };
    }
    return { ok: false, message: `cannot read the YAML: ${(err as Error).message.split("\n")[0]}` };
  }
}

/** Finds the line of a field path in a parsed document (the deepest part of the path present). */
export type LineLocator = (path: string) => number | null;

export interface LoadedProfileFile {
  file: string;
  /** the profile name: the file name without .yaml/.yml */
  name: string;
  draft: ProfileDraft;
  locate: LineLocator;
}

export const PROFILE_FILE_EXTENSIONS = [".yaml", ".yml"];

/** Profile name of a file path, or undefined when it is not a profile file. */
export function profileNameOfFile(file: string): string | undefined {
  const ext = extname(file);
  if (!PROFILE_FILE_EXTENSIONS.includes(ext)) return undefined;
  return basename(file, ext);
}

/** Line of the deepest part of a dotted path present in a YAML document (profiles, scenarios). */
export function makeLocator(doc: Document.Parsed, lines: LineCounter): LineLocator {
  return (path: string) => {
    let node: unknown = doc.contents;
    let offset: number | undefined = doc.contents?.range?.[0];
    const parts = path === "" || path === "(root)" ? [] : path.split(".");
    for (const part of parts) {
      if (isMap(node)) {
        const pair = node.items.find((p) => {
          const key: unknown = p.key;
          const keyValue = key !== null && typeof key === "object" && "value" in key ? (key as { value: unknown }).value : key;
          return String(keyValue) === part;
        });
        if (!pair) break;
        const value = pair.value as { range?: [number, number, number] } | null;
        const key = pair.key as { range?: [number, number, number] } | null;
        // the key's line: where a bad value sits, and where a missing sub-field belongs
        offset = key?.range?.[0] ?? value?.range?.[0] ?? offset;
        node = pair.value;
      } else if (isSeq(node) && /^\d+$/.test(part)) {
        const item = node.items[Number(part)] as { range?: [number, number, number] } | undefined;
        if (!item) break;
        offset = item.range?.[0] ?? offset;
        node = item;
      } else {
        break;
      }
    }
    return offset === undefined ? null : lines.linePos(offset).line;
  };
}

/** Parses YAML text of a profile file into a validated draft, or errors with lines. */
export function parseProfileText(
  file: string,
  text: string,
): { ok: true; profile: LoadedProfileFile } | { ok: false; errors: ProfileFileError[] } {
  const name = profileNameOfFile(file) ?? basename(file);
  if (!PROFILE_NAME_PATTERN.test(name)) {
    return {
      ok: false,
      errors: [
        {
          file,
          line: null,
          path: "",
          message: `the file name is the profile name and ${JSON.stringify(name)} is not a valid one (letters, digits, . _ -, at most 64)`,
        },
      ],
    };
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      errors: doc.errors.map((e) => ({
        file,
        line: lines.linePos(e.pos[0]).line,
        path: "",
        message: `invalid YAML: ${e.message.split("\n")[0]}`,
      })),
    };
  }
  const locate = makeLocator(doc, lines);
  const data = yamlData(doc);
  if (!data.ok) return { ok: false, errors: [{ file, line: null, path: "", message: data.message }] };
  const raw = data.value;
  if (raw === null || raw === undefined) {
    return { ok: false, errors: [{ file, line: null, path: "", message: "the file is empty; a profile is a YAML mapping of fields" }] };
  }
  const { draft, errors } = validateProfile(raw);
  if (draft.name !== undefined && draft.name !== name) {
    errors.push({
      path: "name",
      message: `the profile is named by its file (${JSON.stringify(name)}), but name says ${JSON.stringify(draft.name)}; rename the file or fix name`,
    });
  }
  if (errors.length > 0) return { ok: false, errors: locateErrors(file, locate, errors) };
  draft.name = name;
  return { ok: true, profile: { file, name, draft, locate } };
}

/** Attaches file and line to field errors. */
export function locateErrors(file: string, locate: LineLocator, errors: readonly FieldError[]): ProfileFileError[] {
  return errors.map((e) => ({ file, line: locate(e.path === "(root)" ? "" : e.path), path: e.path, message: e.message }));
}

/** Reads and parses one profile file. */
export async function readProfileFile(
  file: string,
): Promise<{ ok: true; profile: LoadedProfileFile } | { ok: false; errors: ProfileFileError[] }> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    return { ok: false, errors: [{ file, line: null, path: "", message: `cannot read the file (${reason})` }] };
  }
  return parseProfileText(file, text);
}
