// Recorded link traces: a CSV of time, bandwidth each way and delay, measured in the field, that
// a `trace` step replays. Each row becomes an inline spec applied at the row's time.
//
//   # lines starting with # are comments
//   time(s),down(kbps),up(kbps),rtt(ms)
//   0,20000,10000,40
//   5,1500,700,120
//
// Columns: time (required; relative to the first row), up, down (bandwidth), delay (one-way,
// both directions) or rtt (round trip: half each way), loss (each direction). A unit in the
// header, `name(unit)`, applies to bare numbers of that column; without one the SPEC's defaults
// hold (bare duration = ms, bare bandwidth = bits/s). Cells may also carry units themselves.
import type { FieldError } from "../control/protocol.js";
import { parseBandwidth, parseDuration, parseProbability, showValue, UnitError } from "../units.js";
import { MAX_TRACE_ROWS, type TraceRow } from "./types.js";

export interface TraceError {
  /** 1-based line, null for the file as a whole */
  line: number | null;
  message: string;
}

type Column = "time" | "up" | "down" | "delay" | "rtt" | "loss";

const ALIASES: Record<string, Column> = {
  time: "time",
  t: "time",
  up: "up",
  upload: "up",
  uplink: "up",
  down: "down",
  download: "down",
  downlink: "down",
  delay: "delay",
  rtt: "rtt",
  loss: "loss",
};

const UNIT_HINT: Record<Column, string> = {
  time: "s, ms",
  up: "kbps, Mbps, KB/s ...",
  down: "kbps, Mbps, KB/s ...",
  delay: "ms, s",
  rtt: "ms, s",
  loss: "%",
};

interface HeaderColumn {
  column: Column;
  unit: string;
}

function splitCsvLine(line: string): string[] {
  return line.split(",").map((c) => c.trim().replace(/^"(.*)"$/, "$1").trim());
}

function parseHeader(cells: string[], line: number, errors: TraceError[]): HeaderColumn[] | null {
  const out: HeaderColumn[] = [];
  cells.forEach((cell, i) => {
    const m = /^([A-Za-z_]+)\s*(?:[([]\s*([^)\]]*?)\s*[)\]])?$/.exec(cell);
    const column = m ? ALIASES[m[1]!.toLowerCase()] : undefined;
    if (!m || column === undefined) {
      errors.push({ line, message: `column ${i + 1}: unknown column ${JSON.stringify(cell)} (expected time, up, down, delay, rtt, loss, each optionally with a unit like time(s))` });
      return;
    }
    if (out.some((c) => c.column === column)) errors.push({ line, message: `column ${i + 1}: ${column} is given twice` });
    out.push({ column, unit: m[2] ?? "" });
  });
  if (errors.length > 0) return null;
  const has = (c: Column): boolean => out.some((h) => h.column === c);
  if (!has("time")) errors.push({ line, message: "the header needs a time column (e.g. time(s),down(kbps),up(kbps),rtt(ms))" });
  if (has("delay") && has("rtt")) errors.push({ line, message: "give delay (one-way) or rtt (round trip), not both" });
  if (!["up", "down", "delay", "rtt", "loss"].some((c) => has(c as Column))) {
    errors.push({ line, message: "the header needs at least one of up, down, delay, rtt, loss" });
  }
  return errors.length > 0 ? null : out;
}

function parseCell(h: HeaderColumn, cell: string): number | null {
  const text = h.unit !== "" && /^\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$/.test(cell) ? `${cell}${h.unit}` : cell;
  switch (h.column) {
    case "time":
    case "delay":
    case "rtt":
      return parseDuration(text);
    case "up":
    case "down":
      return parseBandwidth(text);
    case "loss":
      return parseProbability(text);
  }
}

/** Parses trace CSV text. Times become relative to the first row and must increase. */
export function parseTraceCsv(text: string): { rows: TraceRow[]; errors: TraceError[] } {
  const errors: TraceError[] = [];
  const rows: TraceRow[] = [];
  let header: HeaderColumn[] | null = null;
  let firstTime: number | undefined;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const raw = lines[i]!.trim();
    if (raw === "" || raw.startsWith("#")) continue;
    const cells = splitCsvLine(raw);
    if (header === null) {
      header = parseHeader(cells, lineNo, errors);
      if (header === null) return { rows: [], errors };
      continue;
    }
    if (cells.length !== header.length) {
      errors.push({ line: lineNo, message: `expected ${header.length} values (${header.map((h) => h.column).join(",")}), got ${cells.length}` });
      continue;
    }
    const row: TraceRow = { time: 0, line: lineNo };
    let ok = true;
    header.forEach((h, c) => {
      const cell = cells[c]!;
      let value: number | null;
      try {
        value = parseCell(h, cell);
      } catch (err) {
        let why = err instanceof UnitError ? err.message : String(err);
        // the header's unit, not the SPEC's default, is what a bare number of this column means
        if (h.unit !== "") why = why.replace(/\(a bare number is [^)]*\)/, `(a bare number in this column is ${h.unit}, as its header says)`);
        errors.push({ line: lineNo, message: `${h.column} ${showValue(cell)}: ${why}${h.unit === "" ? ` (units: ${UNIT_HINT[h.column]}, or put one in the header, e.g. ${h.column}(${UNIT_HINT[h.column].split(",")[0]}))` : ""}` });
        ok = false;
        return;
      }
      switch (h.column) {
        case "time":
          row.time = value as number;
          break;
        case "up":
          row.up = value;
          break;
        case "down":
          row.down = value;
          break;
        case "delay":
          row.delay = value as number;
          break;
        case "rtt":
          row.delay = (value as number) / 2;
          break;
        case "loss":
          row.loss = value as number;
          break;
      }
    });
    if (!ok) continue;
    if (firstTime === undefined) firstTime = row.time;
    row.time -= firstTime;
    const prev = rows[rows.length - 1];
    if (prev && row.time <= prev.time) {
      errors.push({ line: lineNo, message: `time must increase from row to row: ${showValue(cells[header.findIndex((h) => h.column === "time")])} is not after line ${prev.line}` });
      continue;
    }
    rows.push(row);
    if (rows.length > MAX_TRACE_ROWS) {
      errors.push({ line: lineNo, message: `a trace may have at most ${MAX_TRACE_ROWS} rows` });
      break;
    }
  }
  if (header === null && errors.length === 0) errors.push({ line: null, message: "the trace is empty: expected a header like time(s),down(kbps),up(kbps),rtt(ms) and rows" });
  else if (rows.length === 0 && errors.length === 0) errors.push({ line: null, message: "the trace has a header but no rows" });
  return { rows, errors };
}

/** The inline spec a trace row applies (canonical units, only the columns the trace has). */
export function traceRowSpec(row: TraceRow): Record<string, unknown> {
  const direction = (bandwidth: number | null | undefined): Record<string, unknown> => {
    const d: Record<string, unknown> = {};
    if (bandwidth !== undefined) d.bandwidth = bandwidth;
    if (row.delay !== undefined) d.delay = row.delay;
    if (row.loss !== undefined) d.loss = row.loss;
    return d;
  };
  return { up: direction(row.up), down: direction(row.down) };
}

/** Field errors of a trace step, as the scenario loader reports them. */
export function traceFieldErrors(stepPath: string, file: string, errors: TraceError[]): FieldError[] {
  return errors.map((e) => ({ path: `${stepPath}.trace`, message: `${file}${e.line === null ? "" : `:${e.line}`}: ${e.message}` }));
}
