// Human figures: rates in bits/s, sizes in bytes, durations, an impairment's one-line summary.

/** bytes/s as bits/s: "0 bit/s", "812 kbit/s", "9.4 Mbit/s" */
export function rate(bytesPerSecond) {
  const bits = bytesPerSecond * 8;
  const units = ["bit/s", "kbit/s", "Mbit/s", "Gbit/s"];
  let v = bits;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) (v /= 1000), i++;
  return `${v >= 100 || i === 0 ? Math.round(v) : v.toFixed(1)} ${units[i]}`;
}

/** bytes: "512 B", "4.2 kB", "18 MB" */
export function bytes(n) {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let v = n;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) (v /= 1000), i++;
  return `${v >= 100 || i === 0 ? Math.round(v) : v.toFixed(1)} ${units[i]}`;
}

/** ms as "850 ms", "42 s", "3 m 05 s", "2 h 10 m" */
export function duration(ms) {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} m ${String(s % 60).padStart(2, "0")} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} m`;
}

/** HH:MM:SS of a Date */
export function clock(date) {
  return date.toTimeString().slice(0, 8);
}

function direction(d) {
  if (!d) return "";
  const parts = [];
  if (d.bandwidth !== null && d.bandwidth !== undefined) parts.push(rate(d.bandwidth / 8));
  if (d.delay) parts.push(`${d.delay} ms`);
  if (d.jitter) parts.push(`±${d.jitter} ms`);
  if (d.gilbertElliott) parts.push("burst loss");
  else if (d.loss) parts.push(`${+(d.loss * 100).toFixed(2)}% loss`);
  return parts.join(", ");
}

const FAULT_FIELDS = ["stall", "reset", "halfOpen", "connect", "limit", "slowClose", "corrupt"];

/** "down 1 Mbit/s, 50 ms · up 500 kbit/s, 50 ms · reset · 1 request rule" for an ImpairmentSpec */
export function specSummary(spec) {
  if (!spec) return "";
  const parts = [];
  const down = direction(spec.down);
  const up = direction(spec.up);
  if (down) parts.push(`down ${down}`);
  if (up) parts.push(`up ${up}`);
  for (const f of FAULT_FIELDS) if (spec[f]) parts.push(f);
  // how a shared link is shared only says something once it differs from the default
  if (spec.share && spec.share !== "client") parts.push(`share ${spec.share}`);
  if (spec.queue && spec.queue !== "fair") parts.push(`queue ${spec.queue}`);
  const rules = Array.isArray(spec.requests) ? spec.requests.length : 0;
  if (rules) parts.push(`${rules} request rule${rules === 1 ? "" : "s"}`);
  return parts.join(" · ") || "no effect";
}

/** A request rule as the agent names it in events (describeRule): "requests[0] match {...} fail {...}" */
export function ruleText(rule, index) {
  const what =
    "fail" in rule
      ? `fail ${JSON.stringify(rule.fail)}`
      : "delay" in rule
        ? `delay ${rule.delay}ms`
        : "lose" in rule
          ? "lose response"
          : rule.reset === "stream"
            ? "reset stream"
            : "reset";
  return `requests[${index}] match ${JSON.stringify(rule.match)} ${what}`;
}
