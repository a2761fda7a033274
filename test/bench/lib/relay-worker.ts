// Worker process: one relay (a bare net+pipe relay, or netimpair's Proxy class: the engine alone)
// serving a benchmark.
// Its CPU and memory figures are reported on request, so they are the relay's alone.
import net, { type Server, type Socket } from "node:net";
import { PerformanceObserver, constants as perf } from "node:perf_hooks";
import { Proxy } from "../../../src/relay/proxy.js";
import type { ImpairmentSpec } from "../../../src/profiles/types.js";
import { serve } from "./ipc.js";
import type { RelayKind, RelayStart, Usage } from "./relay.js";

let proxy: Proxy | null = null;
let bare: { server: Server; sockets: Set<Socket> } | null = null;
const acceptErrors: Record<string, number> = {};
let majorGcs = 0;
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) if ((e as unknown as { detail?: { kind?: number } }).detail?.kind === perf.NODE_PERFORMANCE_GC_MAJOR) majorGcs++;
}).observe({ entryTypes: ["gc"] });

function countError(err: NodeJS.ErrnoException): void {
  const code = err.code ?? err.message;
  acceptErrors[code] = (acceptErrors[code] ?? 0) + 1;
}

function startBare(upstream: { host: string; port: number }): Promise<number> {
  const sockets = new Set<Socket>();
  const server = net.createServer({ noDelay: true }, (client) => {
    const up = net.connect({ host: upstream.host, port: upstream.port, noDelay: true });
    sockets.add(client);
    sockets.add(up);
    client.on("error", (err: NodeJS.ErrnoException) => {
      countError(err);
      up.destroy();
    });
    up.on("error", (err: NodeJS.ErrnoException) => {
      countError(err);
      client.destroy();
    });
    client.on("close", () => sockets.delete(client));
    up.on("close", () => sockets.delete(up));
    client.pipe(up);
    up.pipe(client);
  });
  server.on("error", countError); // EMFILE on accept must not be fatal
  bare = { server, sockets };
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve((server.address() as net.AddressInfo).port);
    });
  });
}

async function startNetimpair(upstream: string, spec: ImpairmentSpec | null): Promise<number> {
  const p = new Proxy({ name: "bench", listen: "127.0.0.1:0", upstream });
  p.on("listenError", countError);
  p.on("close", (info: { error: string | null }) => {
    if (info.error) {
      const code = info.error;
      acceptErrors[code] = (acceptErrors[code] ?? 0) + 1;
    }
  });
  await p.start();
  if (spec) p.setImpairment({ spec, percent: 100, clients: [] });
  proxy = p;
  return Number(p.listen.split(":").pop());
}

function usage(): Usage {
  const cpu = process.cpuUsage();
  const mem = process.memoryUsage();
  return {
    cpuUs: cpu.user + cpu.system,
    cpuUserUs: cpu.user,
    cpuSystemUs: cpu.system,
    wallMs: performance.now(),
    rss: mem.rss,
    heapUsed: mem.heapUsed,
    external: mem.external,
    connections: proxy ? proxy.stats().connectionsActive : bare ? bare.sockets.size / 2 : 0,
    bytesUp: proxy ? proxy.stats().bytesUp : 0,
    bytesDown: proxy ? proxy.stats().bytesDown : 0,
    majorGcs,
    errors: { ...acceptErrors },
  };
}

serve({
  async start(args: RelayStart): Promise<{ port: number }> {
    const [host, portText] = [args.upstream.slice(0, args.upstream.lastIndexOf(":")), args.upstream.slice(args.upstream.lastIndexOf(":") + 1)];
    const kind: RelayKind = args.kind;
    const port = kind === "bare" ? await startBare({ host, port: Number(portText) }) : await startNetimpair(args.upstream, args.spec);
    return { port };
  },
  apply(args: { spec: ImpairmentSpec | null }): null {
    if (!proxy) throw new Error("apply: no engine relay running");
    proxy.setImpairment(args.spec ? { spec: args.spec, percent: 100, clients: [] } : null);
    return null;
  },
  usage(): Usage {
    return usage();
  },
  gc(): Usage {
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    gc?.();
    return usage();
  },
});
