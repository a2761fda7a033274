// The files `netimpair run` writes at its end (--report, --junit, --summary, --html), checked
// before anything starts, so a typo in a path fails in a second (exit 2, naming the flag and the
// path) rather than turning a long passing run red at its end; and written, creating their
// folders when those do not exist yet.
import { constants } from "node:fs";
import { access, appendFile, mkdir, stat, writeFile } from "node:fs/promises";
import { dirname, resolve as resolvePath } from "node:path";
import { UsageError } from "../output.js";

/** One output file: the flag that named it and the path as given. */
export interface OutputFile {
  flag: string;
  path: string;
}

function codeOf(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? (err as Error).message;
}

async function statOrNull(path: string): Promise<Awaited<ReturnType<typeof stat>> | null> {
  try {
    return await stat(path);
  } catch (err) {
    const code = codeOf(err);
    if (code === "ENOENT" || code === "ENOTDIR") return null;
    throw err;
  }
}

/** Why `file` cannot be written (or its folder created), or null when it can. */
export async function whyUnwritable(file: string): Promise<string | null> {
  const full = resolvePath(file);
  try {
    const st = await statOrNull(full);
    if (st) {
      if (st.isDirectory()) return "is a folder, not a file";
      try {
        await access(full, constants.W_OK);
      } catch (err) {
        return `the file is not writable (${codeOf(err)})`;
      }
      return null;
    }
    // the nearest folder that exists must be a folder we may create entries in
    let dir = dirname(full);
    for (;;) {
      const up = await statOrNull(dir);
      if (up) {
        if (!up.isDirectory()) return `${dir} is a file, not a folder`;
        try {
          await access(dir, constants.W_OK | constants.X_OK);
        } catch (err) {
          return `the folder ${dir} is not writable (${codeOf(err)})`;
        }
        return null;
      }
      const parent = dirname(dir);
      if (parent === dir) return `no folder of it exists`;
      dir = parent;
    }
  } catch (err) {
    return `cannot check it (${codeOf(err)})`;
  }
}

/** Throws a UsageError for the first output that cannot be written, or that another flag names too. */
export async function checkOutputs(outputs: readonly OutputFile[]): Promise<void> {
  const seen = new Map<string, string>();
  for (const o of outputs) {
    const full = resolvePath(o.path);
    const other = seen.get(full);
    if (other !== undefined) throw new UsageError(`${o.flag} ${o.path}: the same file as ${other} (each report needs its own file)`);
    seen.set(full, o.flag);
    const why = await whyUnwritable(o.path);
    if (why !== null) throw new UsageError(`${o.flag} ${o.path}: cannot write: ${why}`);
  }
}

/** Writes (or appends) `text` to an output, creating its folder; a failure is printed, not thrown. */
export async function writeOutput(o: OutputFile, text: string, append = false): Promise<boolean> {
  try {
    await mkdir(dirname(resolvePath(o.path)), { recursive: true });
    if (append) await appendFile(o.path, text);
    else await writeFile(o.path, text);
    return true;
  } catch (err) {
    process.stderr.write(`netimpair: ${o.flag} ${o.path}: cannot write (${codeOf(err)})\n`);
    return false;
  }
}
