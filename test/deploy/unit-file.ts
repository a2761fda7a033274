// A small reader for systemd unit files: sections of Key=Value lines, comments (# ;)
// and backslash continuations. Keys may repeat, so each section keeps a list.
export type UnitFile = Map<string, Array<[key: string, value: string]>>;

export function parseUnitFile(text: string): UnitFile {
  const unit: UnitFile = new Map();
  let section: Array<[string, string]> | undefined;
  const lines = text.replace(/\\\n/g, " ").split("\n");
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) return;
    const header = /^\[([A-Za-z]+)\]$/.exec(line);
    if (header) {
      section = [];
      unit.set(header[1]!, section);
      return;
    }
    const eq = line.indexOf("=");
    if (!section || eq <= 0) throw new Error(`unit line ${i + 1}: expected [Section] or Key=Value, got ${JSON.stringify(line)}`);
    section.push([line.slice(0, eq).trim(), line.slice(eq + 1).trim()]);
  });
  return unit;
}

/** The last value of Key in [section] (systemd: later assignments win), or undefined. */
export function unitValue(unit: UnitFile, section: string, key: string): string | undefined {
  const entries = (unit.get(section) ?? []).filter(([k]) => k === key);
  return entries.length ? entries[entries.length - 1]![1] : undefined;
}
