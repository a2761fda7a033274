// The wrapper `netimpair run` starts its command through (not for direct use):
//   node guard.js [--group] COMMAND ARGS...
// It runs the command and watches fd 3, a pipe from the runner. When the runner dies, even by
// SIGKILL, the pipe ends and the guard stops the command: SIGTERM, then SIGKILL after 2 s, to
// the whole process group when the runner made one (--group: the guard leads it, and the
// command and its children are in it), else to the command. Signals the guard gets (SIGINT,
// SIGTERM, SIGHUP, SIGQUIT) go on to the command; the guard exits as the command did. It tells
// the runner the command's pid, or why it could not start, as JSON lines on fd 3.
import { spawn } from "node:child_process";
import net from "node:net";

const KILL_GRACE_MS = 2000;
const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT"] as const;

const args = process.argv.slice(2);
const group = args[0] === "--group";
const argv = group ? args.slice(1) : args;

const runner = new net.Socket({ fd: 3, readable: true, writable: true });
runner.on("error", () => {});
const tell = (msg: Record<string, unknown>, then?: () => void): void => {
  runner.write(JSON.stringify(msg) + "\n", () => then?.());
};

let exited = false;
let orphaned = false;
const child = spawn(argv[0]!, argv.slice(1), { stdio: "inherit" });
child.once("spawn", () => tell({ pid: child.pid }));
child.once("error", (err: NodeJS.ErrnoException) => {
  if (exited) return;
  exited = true;
  const code = err.code === "ENOENT" ? 127 : 126;
  let done = false;
  const finish = (): void => {
    if (done) return;
    done = true;
    process.exit(code);
  };
  tell({ error: err.code ?? "", message: err.message }, finish);
  setTimeout(finish, 500).unref();
});
child.once("exit", (code, signal) => {
  exited = true;
  if (signal !== null) {
    // die of the same signal, so the runner reports it as the command's
    for (const s of SIGNALS) process.removeAllListeners(s);
    process.kill(process.pid, signal);
    return;
  }
  process.exit(code ?? 1);
});

for (const s of SIGNALS) {
  process.on(s, () => {
    if (!orphaned && !exited) child.kill(s);
  });
}

function stopAll(signal: NodeJS.Signals): void {
  try {
    if (group) process.kill(-process.pid, signal);
    else child.kill(signal);
  } catch {
    // already gone
  }
}

const orphan = (): void => {
  if (exited || orphaned) return;
  orphaned = true;
  stopAll("SIGTERM");
  setTimeout(() => stopAll("SIGKILL"), KILL_GRACE_MS);
};
runner.on("end", orphan);
runner.on("close", orphan);
runner.resume();
