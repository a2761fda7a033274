// A small reader for Containerfiles/Dockerfiles: instructions (continuations joined,
// comments dropped) grouped into build stages.
export interface Instruction {
  keyword: string; // upper case: FROM, RUN, COPY, ...
  args: string; // the rest of the line
  line: number; // 1-based line of the instruction's start
}

export interface Stage {
  from: string; // the base image
  name?: string; // FROM ... AS name
  instructions: Instruction[]; // after FROM
}

export function parseContainerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const start = i;
    let line = lines[i]!.trim();
    if (line === "" || line.startsWith("#")) continue;
    while (line.endsWith("\\") && i + 1 < lines.length) {
      line = line.slice(0, -1).trimEnd();
      // comment lines inside a continuation are dropped, as Docker does
      do i++;
      while (i < lines.length && lines[i]!.trim().startsWith("#"));
      line += " " + (lines[i] ?? "").trim();
    }
    const m = /^([A-Za-z]+)\s+(.*)$/.exec(line);
    if (!m) throw new Error(`Containerfile line ${start + 1}: expected an instruction, got ${JSON.stringify(line)}`);
    const ins: Instruction = { keyword: m[1]!.toUpperCase(), args: m[2]!, line: start + 1 };
    if (ins.keyword === "FROM") {
      const from = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      if (!from) throw new Error(`Containerfile line ${ins.line}: bad FROM ${JSON.stringify(ins.args)}`);
      stages.push({ from: from[1]!, ...(from[2] ? { name: from[2] } : {}), instructions: [] });
    } else {
      const stage = stages[stages.length - 1];
      if (!stage) throw new Error(`Containerfile line ${ins.line}: ${ins.keyword} before any FROM`);
      stage.instructions.push(ins);
    }
  }
  return stages;
}

export function instructions(stage: Stage, keyword: string): Instruction[] {
  return stage.instructions.filter((i) => i.keyword === keyword);
}

/** The JSON (exec) form of CMD/ENTRYPOINT/HEALTHCHECK CMD; throws for the shell form. */
export function execForm(args: string, what: string): string[] {
  let value: unknown;
  try {
    value = JSON.parse(args);
  } catch {
    throw new Error(`${what}: expected the exec form ["prog", "arg"...], got ${JSON.stringify(args)}`);
  }
  if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) throw new Error(`${what}: expected an array of strings, got ${args}`);
  return value as string[];
}

export interface CopyInstruction {
  from?: string; // --from=STAGE
  sources: string[];
  dest: string;
}

export function parseCopy(ins: Instruction): CopyInstruction {
  const words = ins.args.split(/\s+/);
  let from: string | undefined;
  while (words[0]?.startsWith("--")) {
    const flag = words.shift()!;
    if (flag.startsWith("--from=")) from = flag.slice("--from=".length);
  }
  if (words.length < 2) throw new Error(`line ${ins.line}: COPY needs a source and a destination, got ${JSON.stringify(ins.args)}`);
  return { ...(from ? { from } : {}), sources: words.slice(0, -1), dest: words[words.length - 1]! };
}
