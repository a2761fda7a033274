// Reading the agent's /metrics (Prometheus text) in tests and benchmarks (not a test file).

/** A sample by name and exact label text (`proxy="bench",direction="up"`); 0 when absent. */
export function metric(text: string, name: string, labels = ""): number {
  const head = labels ? `${name}{${labels}} ` : `${name} `;
  const line = text.split("\n").find((l) => l.startsWith(head));
  return line === undefined ? 0 : Number(line.slice(head.length));
}
