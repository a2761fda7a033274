// Real DNS peers for the dns and udp tests (not a test file itself): Debian's dnsmasq started on a
// loopback port with records of its own, `dig` (UDP and +tcp), and dnspython through Debian's
// python3. A missing program fails the test with the command that installs it.
import { spawn, execFile, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import dgram from "node:dgram";
import net from "node:net";
import { promisify } from "node:util";

const run = promisify(execFile);

export const DNSMASQ = "/usr/sbin/dnsmasq";
export const DIG = "/usr/bin/dig";
export const PYTHON = "/usr/bin/python3";
export const INSTALL = "apt-get update && apt-get install -y dnsmasq-base bind9-dnsutils python3-dnspython";

export function requireProgram(path: string, what: string): void {
  if (!existsSync(path)) throw new Error(`${what} is missing (${path}); install it with: ${INSTALL}`);
}

export interface Dnsmasq {
  port: number;
  close(): Promise<void>;
}

/** A port free for both UDP and TCP on 127.0.0.1 now. */
async function freePort(): Promise<number> {
  for (;;) {
    const sock = dgram.createSocket("udp4");
    const port = await new Promise<number>((resolve) => sock.bind(0, "127.0.0.1", () => resolve(sock.address().port)));
    const tcpFree = await new Promise<boolean>((resolve) => {
      const s = net.createServer();
      s.once("error", () => resolve(false));
      s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
    });
    await new Promise<void>((resolve) => sock.close(() => resolve()));
    if (tcpFree) return port;
  }
}

/**
 * dnsmasq answering for x.test (every name under it: 127.0.0.5), with `hostRecords`
 * ("name,addr[,addr6]") and `txt` ("name,text") of its own; no upstream, no /etc/hosts.
 */
export async function startDnsmasq(opts: { hostRecords?: string[]; txt?: string[] } = {}): Promise<Dnsmasq> {
  requireProgram(DNSMASQ, "dnsmasq (Debian's dnsmasq-base)");
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const args = ["--no-daemon", `--port=${port}`, "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv", "--no-hosts", "--cache-size=0", "--address=/x.test/127.0.0.5", "--log-facility=-"];
    for (const h of opts.hostRecords ?? []) args.push(`--host-record=${h}`);
    for (const t of opts.txt ?? []) args.push(`--txt-record=${t}`);
    const child: ChildProcess = spawn(DNSMASQ, args, { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    // ready once it answers over UDP
    const ready = await Promise.race([waitAnswer(port), exited.then(() => false)]);
    if (ready) {
      return {
        port,
        close: async () => {
          if (child.exitCode === null) {
            child.kill("SIGTERM");
            await exited;
          }
        },
      };
    }
    child.kill("SIGKILL");
    if (attempt >= 3) throw new Error(`dnsmasq did not start: ${stderr.trim()}`);
  }
}

async function waitAnswer(port: number): Promise<boolean> {
  for (let i = 0; i < 50; i++) {
    try {
      const { stdout } = await run(DIG, ["@127.0.0.1", "-p", String(port), "ready.x.test", "+short", "+tries=1", "+time=1"]);
      if (stdout.trim() === "127.0.0.5") return true;
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

export interface DigResult {
  status: string;
  answers: string[];
  flags: string;
  retriedTcp: boolean;
  stdout: string;
}

/** `dig @127.0.0.1 -p PORT NAME TYPE` (+tcp with tcp), read into status, flags and answer records. */
export async function dig(port: number, name: string, type = "A", extra: string[] = []): Promise<DigResult> {
  requireProgram(DIG, "dig (Debian's bind9-dnsutils)");
  const { stdout } = await run(DIG, ["@127.0.0.1", "-p", String(port), name, type, "+tries=1", "+time=3", "+nocookie", ...extra]).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? "" }));
  const status = /status: (\w+)/.exec(stdout)?.[1] ?? "NONE";
  const flags = /;; flags: ([^;]*);/.exec(stdout)?.[1]?.trim() ?? "";
  const answerSection = /;; ANSWER SECTION:\n([\s\S]*?)\n\n/.exec(stdout)?.[1] ?? "";
  const answers = answerSection
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => l.split(/\s+/).slice(3).join(" "));
  return { status, answers, flags, retriedTcp: stdout.includes("retrying in TCP mode"), stdout };
}

/**
 * dnspython's resolver (Debian's python3-dnspython) asking each [NAME, TYPE] at 127.0.0.1:PORT in
 * one python process (its start is slow on a loaded machine): per query the sorted answers
 * ("127.0.0.9") or the exception's class name (NXDOMAIN, NoAnswer, NoNameservers, LifetimeTimeout).
 */
export async function dnspython(port: number, queries: [string, string][], timeout = 2): Promise<string[]> {
  requireProgram(PYTHON, "python3");
  const script = [
    "import sys, json, dns.resolver",
    "r = dns.resolver.Resolver(configure=False)",
    `r.nameservers = ['127.0.0.1']; r.port = ${port}; r.lifetime = ${timeout}; r.timeout = ${timeout}`,
    "out = []",
    "for name, qtype in json.loads(sys.argv[1]):",
    "    try:",
    "        a = r.resolve(name, qtype)",
    "        out.append(' '.join(sorted(x.to_text() for x in a)))",
    "    except Exception as e:",
    "        out.append(type(e).__name__)",
    "print(json.dumps(out))",
  ].join("\n");
  try {
    const { stdout } = await run(PYTHON, ["-c", script, JSON.stringify(queries)], { timeout: (timeout * queries.length + 30) * 1000 });
    return JSON.parse(stdout) as string[];
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    if (/No module named 'dns'/.test(e.stderr ?? "")) throw new Error(`dnspython is missing; install it with: ${INSTALL}`);
    throw err;
  }
}
