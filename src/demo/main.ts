// `npm run demo`: starts an agent and a local upstream in this process, applies each built-in
// profile in turn and prints what each one does to real traffic, measured, beside its settings.
import { startAgent } from "../agent/start.js";
import { connect } from "../control/client.js";
import { formatBandwidth } from "../units.js";
import type { ImpairmentSpec } from "../profiles/types.js";
import { startMeasureUpstream } from "./upstream.js";
import { openClient, pingMs, downloadBps, uploadBps } from "./measure.js";
import { expectedRtt } from "./expected.js";
import { measureSharing } from "./sharing.js";
import { demoKind } from "./profile-kind.js";
import { performance } from "node:perf_hooks";

/** How long each bandwidth measurement should take, in seconds. */
const TRANSFER_SECONDS = 1;
/** Pings per profile: their median is compared with the model's median. */
const PINGS = 9;

interface Row {
  profile: string;
  cells: string[];
}

function transferBytes(bps: number | null): number {
  if (bps === null) return 16 * 1024 * 1024;
  return Math.max(8 * 1024, Math.min(8 * 1024 * 1024, Math.round((bps / 8) * TRANSFER_SECONDS)));
}

function errorPercent(configured: number, measured: number): string {
  const e = ((measured - configured) / configured) * 100;
  return `${e >= 0 ? "+" : ""}${e.toFixed(1)}%`;
}

/** A measured rate, to 4 significant digits. */
function rate(bps: number): string {
  return formatBandwidth(Number(bps.toPrecision(4)));
}

function ms(n: number): string {
  return n >= 100 ? `${n.toFixed(0)} ms` : `${n.toFixed(1)} ms`;
}

async function measureLink(port: number, spec: ImpairmentSpec): Promise<string[]> {
  // a 64-byte ping's round trip as the link model has it: its median, to compare with the
  // median of the pings (medians with medians: a pareto jitter's mean is twice its median)
  const expected = expectedRtt(spec);
  const rtt = expected.median;
  const timeout = 30_000 + 4 * expected.mean;
  const s = await openClient(port);
  try {
    await pingMs(s, 1, timeout); // warm up: the first segment pays for nothing else
    const measuredRtt = await pingMs(s, PINGS, timeout);
    const down = await downloadBps(s, transferBytes(spec.down.bandwidth), timeout);
    const up = await uploadBps(s, transferBytes(spec.up.bandwidth), timeout);
    const bw = (set: number | null, got: number): string[] =>
      set === null ? ["unlimited", rate(got), ""] : [formatBandwidth(set), rate(got), errorPercent(set, got)];
    return [
      ...bw(spec.down.bandwidth, down),
      ...bw(spec.up.bandwidth, up),
      ms(rtt),
      ms(measuredRtt),
      rtt > 0 ? `${measuredRtt - rtt >= 0 ? "+" : ""}${(measuredRtt - rtt).toFixed(1)} ms` : "",
    ];
  } finally {
    s.destroy();
  }
}

/** What a client sees on a fresh connection: an answer, a reset, or silence. */
async function probeFaults(port: number, waitMs: number): Promise<string> {
  const t0 = performance.now();
  const s = await openClient(port).catch((e: NodeJS.ErrnoException) => e);
  if (s instanceof Error) return `connect failed: ${s.code ?? s.message}`;
  return new Promise((resolve) => {
    const done = (what: string): void => {
      clearTimeout(timer);
      s.destroy();
      resolve(what);
    };
    const timer = setTimeout(() => done(`silent for ${waitMs} ms: no data, no FIN, no RST (half-open)`), waitMs);
    s.on("error", (e: NodeJS.ErrnoException) => done(`${e.code ?? e.message} after ${(performance.now() - t0).toFixed(0)} ms`));
    s.on("end", () => done(`FIN after ${(performance.now() - t0).toFixed(0)} ms`));
    s.on("data", () => done(`answered in ${(performance.now() - t0).toFixed(1)} ms`));
    const ping = Buffer.alloc(64, 0x2e);
    ping.write("P");
    s.write(ping);
  });
}

/** "3g, 6 connections: 1.00 Mbps in total, 0.17 each", with share client and share connection. */
async function sharingLines(ctl: Awaited<ReturnType<typeof connect>>, port: number): Promise<string[]> {
  const profile = await ctl.profile("3g");
  const bandwidth = profile.spec.down.bandwidth;
  if (bandwidth === null) return [];
  if (process.stdout.isTTY) process.stdout.write("  measuring shared links...\r");
  const lines: string[] = [];
  for (const share of ["client", "connection"] as const) {
    const m = await measureSharing(ctl, "demo", port, "3g", share, 6, bandwidth).catch((e: Error) => e);
    if (m instanceof Error) {
      lines.push(`3g, share ${share}: error: ${m.message}`);
      continue;
    }
    const mean = m.each.reduce((a, b) => a + b, 0) / m.each.length;
    const what = share === "client" ? "one 1 Mbps link for the client (the default)" : "a link each (as Toxiproxy's bandwidth toxic)";
    lines.push(
      `3g, ${m.connections} connections, share ${share}: ${(m.total / 1e6).toFixed(2)} Mbps in total, ${(mean / 1e6).toFixed(2)} each  <- ${what}`,
    );
  }
  return lines;
}

function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]): string => cells.map((c, i) => (c ?? "").padEnd(widths[i]!)).join("  ").trimEnd();
  console.log(line(header));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const r of rows) console.log(line(r));
}

async function main(): Promise<void> {
  const only = process.argv.slice(2);
  const upstream = await startMeasureUpstream();
  const running = await startAgent({
    control: "127.0.0.1:0",
    proxies: [{ name: "demo", listen: "127.0.0.1:0", upstream: `127.0.0.1:${upstream.port}` }],
  });
  const ctl = await connect(running.url);
  try {
    const proxy = (await ctl.proxies()).find((p) => p.name === "demo")!;
    const port = Number(proxy.listen.slice(proxy.listen.lastIndexOf(":") + 1));
    console.log(`netimpair demo: agent ${running.url}, proxy demo ${proxy.listen} -> ${proxy.upstream}`);
    console.log(`each profile is applied live, then measured on a fresh connection (${PINGS} pings, ~${TRANSFER_SECONDS} s transfers each way)\n`);
    const names = (await ctl.profiles()).filter((n) => only.length === 0 || only.includes(n));
    const linkRows: Row[] = [];
    const faultRows: string[][] = [];
    const requestProfiles: string[] = [];
    const datagramProfiles: string[] = [];
    for (const name of names) {
      const profile = await ctl.profile(name);
      const spec = profile.spec;
      // request-fault profiles act on a protocol's requests, datagram ones on a udp or dns
      // proxy: the demo's proxy is plain TCP
      const kind = demoKind(spec);
      if (kind !== "link") {
        (kind === "request" ? requestProfiles : datagramProfiles).push(name);
        continue;
      }
      const applied = await ctl.apply("demo", name).catch((e: Error) => e);
      if (applied instanceof Error) {
        // one profile the agent refuses is told in its row; the others are still measured
        linkRows.push({ profile: name, cells: [`not applied: ${applied.message}`] });
        continue;
      }
      if (process.stdout.isTTY) process.stdout.write(`  measuring ${name}...\r`);
      const connectionFault = spec.halfOpen !== null || spec.connect !== null || spec.reset !== null || spec.stall !== null;
      if (spec.halfOpen !== null || spec.connect?.refuse) {
        faultRows.push([name, await probeFaults(port, 1500), profile.description]);
      } else {
        const cells = await measureLink(port, spec).catch((e: Error) => ["error: " + e.message]);
        linkRows.push({ profile: name, cells });
        if (connectionFault) faultRows.push([name, "(not seen in a short run)", profile.description]);
      }
    }
    const sharing = only.length === 0 || only.includes("3g") ? await sharingLines(ctl, port) : [];
    await ctl.clear("demo");
    if (process.stdout.isTTY) process.stdout.write(" ".repeat(40) + "\r");
    printTable(
      ["PROFILE", "DOWN SET", "DOWN MEASURED", "ERR", "UP SET", "UP MEASURED", "ERR", "RTT MEDIAN SET", "RTT MEDIAN MEASURED", "ERR"],
      linkRows.map((r) => [r.profile, ...r.cells]),
    );
    if (sharing.length > 0) {
      console.log("\nShared links (6 parallel downloads from one client, as a browser opens them):");
      for (const line of sharing) console.log(`  ${line}`);
    }
    if (faultRows.length > 0) {
      console.log("\nConnection faults (a fresh connection, one 64-byte ping):");
      printTable(["PROFILE", "WHAT THE CLIENT SAW", "DESCRIPTION"], faultRows);
    }
    if (requestProfiles.length > 0) {
      console.log(`\nRequest-fault profiles, not measured here (they need a proxy that says its protocol, see docs/request-faults.md): ${requestProfiles.join(", ")}`);
    }
    if (datagramProfiles.length > 0) {
      console.log(`Datagram profiles, not measured here (they need a udp or dns proxy, see docs/dns-and-udp.md): ${datagramProfiles.join(", ")}`);
    }
    console.log("\nBandwidth is timed from the first byte to the last (the delay is not counted against it);");
    console.log(`RTT compares medians with medians: the set value is the link model's median round trip of a 64-byte ping`);
    console.log(`(delays, serialization, jitter and loss drawn 20,001 times from the engine's own models), the measured one the median of ${PINGS} pings.`);
    console.log("Loss (lossy-wifi) is emulated as retransmission delay, so its goodput is below the link rate, as on a real link.");
    console.log("Try it on your own service: the README's five-minute tour.");
  } finally {
    await ctl.close();
    await running.close();
    await upstream.close();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
