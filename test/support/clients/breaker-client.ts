// A service's HTTP client behind a circuit breaker (opossum), run by the client-verdict tests as
// the command under `netimpair run` (not a test file): it calls GET /dep every --every ms for
// --for ms through a breaker that opens after --volume calls that all failed and half-opens
// after --reset ms. It prints one JSON line: calls made, calls the breaker refused, opens.
import CircuitBreaker from "opossum";

const args: Record<string, string> = {};
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) args[argv[i]!.replace(/^--/, "")] = argv[i + 1]!;
const url = args.url!;
const every = Number(args.every ?? 20);
const total = Number(args.for ?? 2500);
const volume = Number(args.volume ?? 5);
const reset = Number(args.reset ?? 800);

async function dep(): Promise<number> {
  const res = await fetch(`${url}/dep`);
  await res.arrayBuffer();
  if (res.status >= 500) throw new Error(`status ${res.status}`);
  return res.status;
}

const breaker = new CircuitBreaker(dep, { timeout: false, errorThresholdPercentage: 50, volumeThreshold: volume, resetTimeout: reset, rollingCountTimeout: 60_000 });
let opens = 0;
breaker.on("open", () => opens++);
let calls = 0;
let refused = 0;
const end = performance.now() + total;
while (performance.now() < end) {
  try {
    calls++;
    await breaker.fire();
  } catch {
    if (breaker.opened && breaker.stats.rejects > refused) refused = breaker.stats.rejects;
  }
  await new Promise((r) => setTimeout(r, every));
}
breaker.shutdown();
process.stdout.write(JSON.stringify({ calls, refused, opens }) + "\n");
