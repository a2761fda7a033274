// Request/response over a forked child's IPC channel: the parent calls named commands, the child
// serves them. Benchmarks run relays and load generators in their own processes this way, so a
// relay's CPU figures are its own and the load does not share its event loop.
import { fork, type ChildProcess } from "node:child_process";

interface Request {
  id: number;
  cmd: string;
  args: unknown;
}

interface Reply {
  id: number;
  ok: boolean;
  result?: unknown;
  error?: string;
}

export type Handlers = Record<string, (args: never) => unknown>;

/** Extra node flags for every worker (e.g. --cpu-prof when profiling); set by main. */
export const workerFlags: string[] = [];

/** A forked worker process with typed command calls. */
export class Worker {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private exited = false;

  private constructor(
    readonly name: string,
    private readonly child: ChildProcess,
  ) {
    child.on("message", (msg: Reply) => {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.ok) p.resolve(msg.result);
      else p.reject(new Error(`${name}: ${msg.error}`));
    });
    child.on("exit", (code, signal) => {
      this.exited = true;
      for (const p of this.pending.values()) p.reject(new Error(`${name} exited (${code ?? signal})`));
      this.pending.clear();
    });
    child.on("error", () => {});
  }

  /** Forks `module` (a URL of a compiled worker script) and waits for its ready message. */
  static async start(name: string, module: URL, extraFlags: string[] = []): Promise<Worker> {
    const child = fork(module, [], {
      execArgv: ["--expose-gc", ...workerFlags, ...extraFlags],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    const w = new Worker(name, child);
    await w.call("ping", {});
    return w;
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  call<T>(cmd: string, args: unknown = {}): Promise<T> {
    if (this.exited) return Promise.reject(new Error(`${this.name} has exited`));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      const req: Request = { id, cmd, args };
      this.child.send(req);
    });
  }

  /** Asks the worker to exit and waits (kills it after 5 s). */
  async stop(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
    this.call("exit").catch(() => {});
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 5000);
    await gone;
    clearTimeout(timer);
  }
}

/** Sends a reply if the parent is still there (a parent gone away is no error of ours). */
function reply(r: Reply, then?: () => void): void {
  if (!process.connected || !process.send) {
    then?.();
    return;
  }
  process.send(r, undefined, {}, () => then?.());
}

/** In a worker: serves commands until "exit". `ping` and `exit` are built in. */
export function serve(handlers: Handlers): void {
  process.on("message", async (req: Request) => {
    if (req.cmd === "exit") {
      reply({ id: req.id, ok: true }, () => process.exit(0));
      return;
    }
    if (req.cmd === "ping") {
      reply({ id: req.id, ok: true, result: "pong" });
      return;
    }
    const h = handlers[req.cmd];
    try {
      if (!h) throw new Error(`unknown command ${req.cmd}`);
      const result = await (h as (a: unknown) => unknown)(req.args);
      reply({ id: req.id, ok: true, result });
    } catch (err) {
      reply({ id: req.id, ok: false, error: err instanceof Error ? err.message : String(err) });
    }
  });
  process.on("disconnect", () => process.exit(0));
}
