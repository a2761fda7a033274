// A service's database client written to a known behaviour, run by the client-verdict tests as
// the command under `netimpair run` (not a test file): node-postgres (`--kind pg`) or ioredis
// (`--kind redis`) through the agent. It writes `--requests` charges one after another
// (pg: INSERT INTO <table> VALUES ($1), redis: SET <prefix>charge:N), then `--slow` reads at once
// (pg: SELECT 'slow', redis: GET <prefix>slow:N):
//   careful: retries a failed write at most --retries times, waiting --backoff ms x 2^k x 1.0..1.2;
//            gives each read --timeout ms (pg query_timeout, ioredis commandTimeout) and then
//            drops the connection it timed out on (pg: release(err) destroys it; ioredis: disconnect);
//   careless: retries at once until it succeeds (at most 10 times), and never times out.
import pg from "pg";
import { Redis } from "ioredis";

const args: Record<string, string> = {};
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) args[argv[i]!.replace(/^--/, "")] = argv[i + 1]!;
const kind = args.kind === "redis" ? "redis" : "pg";
const port = Number(args.port);
const careful = args.mode !== "careless";
const requests = Number(args.requests ?? 2);
const slow = Number(args.slow ?? 2);
const retries = Number(args.retries ?? 3);
const backoff = Number(args.backoff ?? 150);
const timeout = Number(args.timeout ?? 400);
const name = args.name ?? "i30_verdicts";
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Db {
  warm(): Promise<void>;
  write(n: number): Promise<void>;
  read(n: number): Promise<void>;
  close(): Promise<void>;
}

function pgDb(): Db {
  const pool = new pg.Pool({ host: "127.0.0.1", port, user: "postgres", database: "test", max: 4, ...(careful ? { query_timeout: timeout } : {}) });
  const use = async (sql: string, params: unknown[]): Promise<void> => {
    const client = await pool.connect();
    try {
      await client.query(sql, params);
      client.release();
    } catch (err) {
      // a timed-out connection is dropped, not reused (its answer may still come)
      client.release((err as Error).message.includes("timeout") ? (err as Error) : undefined);
      throw err;
    }
  };
  return {
    warm: () => use("SELECT 1", []),
    write: (n) => use(`INSERT INTO ${name} (id) VALUES ($1)`, [n]),
    read: (n) => use(`SELECT 'slow' AS s, $1::int AS n`, [n]),
    close: () => pool.end(),
  };
}

function redisDb(): Db {
  const open = (): Redis => new Redis({ host: "127.0.0.1", port, maxRetriesPerRequest: 0, lazyConnect: false, ...(careful ? { commandTimeout: timeout } : {}) });
  let main = open();
  return {
    warm: async () => {
      await main.ping();
    },
    write: async (n) => {
      await main.set(`${name}:charge:${n}`, "v");
    },
    read: async (n) => {
      const r = open();
      try {
        // the command's timeout starts when it is queued: wait for the connection first
        if (r.status !== "ready") await new Promise((resolve) => r.once("ready", resolve));
        await r.get(`${name}:slow:${n}`);
      } finally {
        // a timed-out connection is dropped (ioredis would otherwise wait on it)
        r.disconnect();
      }
    },
    close: async () => {
      main.disconnect();
      main = null as unknown as Redis;
    },
  };
}

const db = kind === "pg" ? pgDb() : redisDb();

async function withRetries(fn: () => Promise<void>): Promise<string> {
  for (let k = 0; ; k++) {
    try {
      await fn();
      return `ok after ${k}`;
    } catch {
      if (careful) {
        if (k >= retries) return `gave up after ${k}`;
        await sleep(backoff * 2 ** k * (1 + 0.2 * Math.random()));
      } else if (k >= 9) return `gave up after ${k}`;
    }
  }
}

// warm up (connections, the JIT)
for (let i = 0; i < 3; i++) await db.warm();
const results: string[] = [];
for (let i = 1; i <= requests; i++) results.push(await withRetries(() => db.write(i)));
results.push(...(await Promise.all(Array.from({ length: slow }, (_, i) => db.read(i + 1).then(() => "read", (e: Error) => e.message)))));
await db.close();
process.stdout.write(JSON.stringify({ results }) + "\n");
