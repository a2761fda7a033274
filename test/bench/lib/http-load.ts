// The benchmarks' own HTTP/1.1 load generator, for machines without wrk: N keep-alive
// connections, each sending `GET PATH` and the next one as soon as the answer is whole (no
// pipelining, as wrk does by default). Runs in its own process so that the load does not share an
// event loop with the bench or the agent:
//   node http-load.js PORT SECONDS CONNECTIONS [PATH]
// prints one JSON line: {requests, seconds, rate, errors}. Answers are framed by content-length
// (the bench's server always sends one); any status other than 200 counts as an error.
import net from "node:net";
import { fileURLToPath } from "node:url";

export interface LoadResult {
  requests: number;
  seconds: number;
  /** requests/s over the measured window */
  rate: number;
  /** non-200 answers, unframed answers and socket errors */
  errors: number;
}

const CRLFCRLF = Buffer.from("\r\n\r\n");

/** Loads 127.0.0.1:port for `seconds` over `connections` keep-alive connections. */
export function load(port: number, seconds: number, connections: number, path = "/hello"): Promise<LoadResult> {
  const request = Buffer.from(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUser-Agent: netimpair-bench\r\n\r\n`, "latin1");
  let requests = 0;
  let errors = 0;
  let running = true;
  const start = performance.now();
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const s = net.connect({ host: "127.0.0.1", port, noDelay: true });
      let held: Buffer | null = null;
      const send = (): void => {
        if (!running) {
          s.end();
          return;
        }
        s.write(request);
      };
      s.on("connect", send);
      s.on("data", (chunk: Buffer) => {
        let buf = held === null ? chunk : Buffer.concat([held, chunk]);
        held = null;
        for (;;) {
          const headEnd = buf.indexOf(CRLFCRLF);
          if (headEnd < 0) break;
          const head = buf.toString("latin1", 0, headEnd);
          const m = /\r\ncontent-length:\s*(\d+)/i.exec(head);
          if (!m) {
            errors++;
            s.destroy();
            return;
          }
          const total = headEnd + 4 + Number(m[1]);
          if (buf.length < total) break;
          if (!head.startsWith("HTTP/1.1 200")) errors++;
          else requests++;
          buf = buf.subarray(total);
          send();
        }
        if (buf.length > 0) held = buf;
      });
      s.on("error", () => errors++);
      s.on("close", () => resolve());
    });
  const conns = Array.from({ length: connections }, one);
  return new Promise((resolve) => {
    setTimeout(() => {
      const elapsed = (performance.now() - start) / 1000;
      const done = requests;
      running = false;
      void Promise.all(conns).then(() => resolve({ requests: done, seconds: elapsed, rate: done / elapsed, errors }));
    }, seconds * 1000);
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [port, seconds, connections, path] = process.argv.slice(2);
  void load(Number(port), Number(seconds), Number(connections), path).then((r) => {
    process.stdout.write(`${JSON.stringify(r)}\n`);
    process.exit(0);
  });
}
