// Reading a scenario file: YAML -> validated Scenario with its trace CSVs loaded, every error
// located at a file and line ("scenario.yaml:7: step 3, ramp.over: expected a duration ...").
import { readFile } from "node:fs/promises";
import { basename, dirname, extname, resolve as resolvePath } from "node:path";
import { LineCounter, parseDocument } from "yaml";
import { makeLocator, yamlData } from "../profiles/load.js";
import type { FieldError } from "../control/protocol.js";
import { validateScenario } from "./schema.js";
import { parseTraceCsv } from "./trace.js";
import type { Scenario, TraceRow } from "./types.js";

/** One problem of a scenario file (or of a trace it names). */
export interface ScenarioFileError {
  file: string;
  line: number | null;
  /** field path, "" for the file itself */
  path: string;
  message: string;
}

/**
 * A field path as a user reads it: the file's steps counted from 1, as everywhere else the run
 * numbers steps: `steps.1.ramp.over` -> `step 2, ramp.over`, `steps.3.repeat.steps.0.at` ->
 * `step 4, repeat step 1, at`. Other paths are shown as they are.
 */
export function describeFieldPath(path: string): string {
  const m = /^steps\.(\d+)((?:\.repeat\.steps\.\d+)*)(?:\.(.+))?$/.exec(path);
  if (!m) return path;
  const parts = [`step ${Number(m[1]) + 1}`];
  for (const inner of m[2]!.matchAll(/\.repeat\.steps\.(\d+)/g)) parts.push(`repeat step ${Number(inner[1]) + 1}`);
  if (m[3] !== undefined) parts.push(m[3]);
  return parts.join(", ");
}

export function formatScenarioError(e: ScenarioFileError): string {
  const where = e.line === null ? e.file : `${e.file}:${e.line}`;
  return e.path === "" ? `${where}: ${e.message}` : `${where}: ${describeFieldPath(e.path)}: ${e.message}`;
}

export class ScenarioLoadError extends Error {
  constructor(readonly errors: ScenarioFileError[]) {
    super(errors.map(formatScenarioError).join("\n"));
    this.name = "ScenarioLoadError";
  }
}

/** Reads trace CSVs relative to `baseDir`. Returns rows by file name as written, or errors. */
export type TraceReader = (file: string) => Promise<string>;

/** Parses scenario YAML text; trace files are read with `readTrace` (paths as written in the file). */
export async function parseScenarioText(file: string, text: string, readTrace: TraceReader): Promise<Scenario> {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ScenarioLoadError(doc.errors.map((e) => ({ file, line: lines.linePos(e.pos[0]).line, path: "", message: `invalid YAML: ${e.message.split("\n")[0]}` })));
  }
  const data = yamlData(doc);
  if (!data.ok) throw new ScenarioLoadError([{ file, line: null, path: "", message: data.message }]);
  const raw = data.value;
  if (raw === null || raw === undefined) throw new ScenarioLoadError([{ file, line: null, path: "", message: "the file is empty; a scenario is a YAML mapping with steps" }]);
  const locate = makeLocator(doc, lines);
  const at = (errors: FieldError[]): ScenarioFileError[] => errors.map((e) => ({ file, line: locate(e.path), path: e.path === "(root)" ? "" : e.path, message: e.message }));
  const name = basename(file, extname(file)) || "scenario";
  const { scenario, errors } = validateScenario(raw, name);
  if (!scenario) throw new ScenarioLoadError(at(errors));

  // each trace file is read once, however many (repeated) steps replay it
  const traces = new Map<string, Promise<{ rows: TraceRow[]; error?: string }>>();
  const problems: ScenarioFileError[] = [];
  for (const step of scenario.steps) {
    if (step.action.kind !== "trace") continue;
    const traceFile = step.action.file;
    let pending = traces.get(traceFile);
    if (!pending) {
      pending = readTrace(traceFile).then(
        (csv) => {
          const parsed = parseTraceCsv(csv);
          if (parsed.errors.length === 0) return { rows: parsed.rows };
          return { rows: [], error: parsed.errors.map((e) => `${traceFile}${e.line === null ? "" : `:${e.line}`}: ${e.message}`).join("; ") };
        },
        (err: NodeJS.ErrnoException) => ({ rows: [], error: `cannot read the trace ${traceFile} (${err.code ?? err.message})` }),
      );
      traces.set(traceFile, pending);
    }
    const got = await pending;
    if (got.error !== undefined) {
      if (!problems.some((p) => p.message === got.error)) problems.push(...at([{ path: `${step.path}.trace`, message: got.error }]));
      continue;
    }
    step.action.rows = got.rows;
  }
  if (problems.length > 0) throw new ScenarioLoadError(problems);
  return scenario;
}

/** Reads and validates a scenario file (trace CSVs are resolved against its folder). */
export async function loadScenarioFile(file: string): Promise<Scenario> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new ScenarioLoadError([{ file, line: null, path: "", message: `cannot read the scenario (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})` }]);
  }
  const base = dirname(resolvePath(file));
  return parseScenarioText(file, text, (trace) => readFile(resolvePath(base, trace), "utf8"));
}
