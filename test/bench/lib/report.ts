// Output of the benchmarks: aligned text tables on stdout and one JSON document of every figure.
import { writeFileSync } from "node:fs";
import os from "node:os";

export type Cell = string | number | null;
export type Row = Record<string, Cell>;

export interface Table {
  title: string;
  columns: string[];
  rows: Row[];
  notes: string[];
}

function show(c: Cell | undefined): string {
  if (c === null || c === undefined) return "-";
  if (typeof c === "number") {
    if (!Number.isFinite(c)) return String(c);
    if (Number.isInteger(c)) return String(c);
    const abs = Math.abs(c);
    return c.toFixed(abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3);
  }
  return c;
}

/** Prints a table as aligned columns (numbers right-aligned), then its notes. */
export function printTable(t: Table): void {
  const cells = t.rows.map((r) => t.columns.map((c) => show(r[c])));
  const widths = t.columns.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i]!.length)));
  const numeric = t.columns.map((c) => t.rows.every((r) => typeof r[c] === "number" || r[c] === null || r[c] === undefined));
  const line = (vals: string[]): string =>
    vals.map((v, i) => (numeric[i] ? v.padStart(widths[i]!) : v.padEnd(widths[i]!))).join("  ").trimEnd();
  console.log(`\n## ${t.title}`);
  console.log(line(t.columns));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const row of cells) console.log(line(row));
  for (const n of t.notes) console.log(`  ${n}`);
}

interface BenchEntry {
  tables: Table[];
  figures: Record<string, unknown>;
  error?: string;
  seconds?: number;
}

/** Every benchmark's tables and figures, written as JSON at the end. */
export class Results {
  readonly startedAt = new Date().toISOString();
  private readonly benchmarks: Record<string, BenchEntry> = {};

  constructor(private readonly quick: boolean) {}

  table(bench: string, t: Table): void {
    this.entry(bench).tables.push(t);
    printTable(t);
  }

  figure(bench: string, name: string, value: unknown): void {
    this.entry(bench).figures[name] = value;
  }

  failed(bench: string, error: string): void {
    this.entry(bench).error = error;
  }

  timed(bench: string, seconds: number): void {
    this.entry(bench).seconds = seconds;
  }

  write(file: string): void {
    const doc = {
      startedAt: this.startedAt,
      quick: this.quick,
      machine: {
        node: process.version,
        platform: `${os.platform()} ${os.release()}`,
        cpus: os.cpus().length,
        cpuModel: os.cpus()[0]?.model ?? "unknown",
        totalMemMB: Math.round(os.totalmem() / 2 ** 20),
      },
      benchmarks: this.benchmarks,
    };
    writeFileSync(file, JSON.stringify(doc, null, 2) + "\n");
  }

  private entry(bench: string): BenchEntry {
    return (this.benchmarks[bench] ??= { tables: [], figures: {} });
  }
}
