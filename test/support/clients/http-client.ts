// A service's HTTP client written to a known behaviour, run by the client-verdict tests as the
// command under `netimpair run` (not a test file). After 5 warm-up GETs to /warm/N it sends
// `--requests` POSTs to /charge/N (a JSON body) one after another, then `--slow` GETs to /slow/N
// at once, with undici (node's fetch) or axios:
//   careful: retries a failed request at most --retries times, waiting --backoff ms x 2^k with
//            jitter (x 1.0..1.2), and gives each attempt --timeout ms;
//   careless: retries at once until it succeeds (at most 10 times), and never times out.
// It prints one JSON line: what each request ended with.
import axios from "axios";

interface Options {
  url: string;
  lib: "fetch" | "axios";
  mode: "careful" | "careless";
  requests: number;
  slow: number;
  retries: number;
  backoff: number;
  timeout: number;
}

function parse(argv: string[]): Options {
  const o: Record<string, string> = {};
  for (let i = 0; i < argv.length; i += 2) o[argv[i]!.replace(/^--/, "")] = argv[i + 1]!;
  return {
    url: o.url!,
    lib: o.lib === "axios" ? "axios" : "fetch",
    mode: o.mode === "careless" ? "careless" : "careful",
    requests: Number(o.requests ?? 3),
    slow: Number(o.slow ?? 0),
    retries: Number(o.retries ?? 3),
    backoff: Number(o.backoff ?? 100),
    timeout: Number(o.timeout ?? 500),
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** One attempt: the status, or "timeout" / "error". */
async function attempt(o: Options, method: "GET" | "POST", path: string, body: string | undefined): Promise<number | string> {
  const timeout = o.mode === "careful" ? o.timeout : undefined;
  if (o.lib === "fetch") {
    try {
      const res = await fetch(`${o.url}${path}`, {
        method,
        ...(body !== undefined ? { body, headers: { "content-type": "application/json" } } : {}),
        ...(timeout !== undefined ? { signal: AbortSignal.timeout(timeout) } : {}),
      });
      await res.arrayBuffer();
      return res.status;
    } catch (err) {
      return (err as Error).name === "TimeoutError" ? "timeout" : "error";
    }
  }
  try {
    const res = await axios.request({ url: `${o.url}${path}`, method, data: body, headers: body !== undefined ? { "content-type": "application/json" } : {}, validateStatus: () => true, ...(timeout !== undefined ? { timeout } : {}) });
    return res.status;
  } catch (err) {
    return (err as { code?: string }).code === "ECONNABORTED" ? "timeout" : "error";
  }
}

async function call(o: Options, method: "GET" | "POST", path: string, body: string | undefined, retries: number): Promise<string> {
  const tries: (number | string)[] = [];
  for (let k = 0; ; k++) {
    const got = await attempt(o, method, path, body);
    tries.push(got);
    const ok = typeof got === "number" && got < 500 && got !== 429;
    if (ok) break;
    if (o.mode === "careful") {
      if (k >= retries) break;
      await sleep(o.backoff * 2 ** k * (1 + 0.2 * Math.random()));
    } else if (k >= 9) break;
  }
  return tries.join(",");
}

const o = parse(process.argv.slice(2));
// warm up (connections, the JIT) so the measured attempts are spaced by the client's own waits
for (let i = 0; i < 5; i++) await attempt({ ...o, mode: "careless" }, "GET", `/warm/${i}`, undefined);
// the charges one after another, then the slow requests at once
const results: string[] = [];
for (let i = 0; i < o.requests; i++) results.push(await call(o, "POST", `/charge/${i + 1}?try=x`, JSON.stringify({ id: i + 1, amount: 10 }), o.retries));
results.push(...(await Promise.all(Array.from({ length: o.slow }, (_, i) => call(o, "GET", `/slow/${i + 1}`, undefined, 0)))));
process.stdout.write(JSON.stringify({ results }) + "\n");
