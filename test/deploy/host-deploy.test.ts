// The default config, the systemd unit and the Containerfile: they start the agent with
// the config they provide, keep it unprivileged, and probe /healthz on its control port.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { execFile } from "node:child_process";
import { posix } from "node:path";
import type { AddressInfo } from "node:net";
import { isLoopbackHost } from "../../src/relay/address.js";
import { readAgentYaml } from "./agent-yaml.js";
import { execForm, instructions, parseContainerfile, parseCopy, type Stage } from "./containerfile.js";
import { repoPath } from "./repo-path.js";
import { parseUnitFile, unitValue } from "./unit-file.js";

interface PackageJson {
  bin: Record<string, string>;
  scripts: Record<string, string>;
}
const pkg = JSON.parse(readFileSync(repoPath("package.json"), "utf8")) as PackageJson;
const binPath = pkg.bin.netimpair!; // dist/src/cli/main.js

/** The value after `flag` in argv, or undefined. */
function flagValue(argv: string[], flag: string): string | undefined {
  const i = argv.indexOf(flag);
  return i >= 0 ? argv[i + 1] : undefined;
}

test("agent/netimpair.yaml (npm start) serves control on loopback with an example pg proxy", () => {
  assert.ok(binPath.endsWith(".js"), `package.json bin.netimpair: ${binPath}`);
  const start = pkg.scripts.start!.split(/\s+/);
  assert.deepEqual(start.slice(0, 3), ["node", binPath, "agent"], `npm start: ${pkg.scripts.start}`);
  assert.equal(flagValue(start, "--config"), "agent/netimpair.yaml");
  const config = readAgentYaml(readFileSync(repoPath("agent/netimpair.yaml"), "utf8"), "agent/netimpair.yaml");
  assert.ok(isLoopbackHost(config.control.host), `control ${config.control.host} is not loopback`);
  assert.equal(config.control.port, 8474);
  assert.equal(config.tokenFile, undefined, "a token file in the default config would stop `npm start` on a fresh checkout");
  assert.deepEqual(
    config.proxies.map((p) => [p.name, `${p.listen.host}:${p.listen.port}`, `${p.upstream.host}:${p.upstream.port}`]),
    [["pg", "127.0.0.1:15432", "127.0.0.1:5432"]],
  );
});

test("agent/netimpair.yaml explains every field it sets", () => {
  const text = readFileSync(repoPath("agent/netimpair.yaml"), "utf8");
  const lines = text.split("\n");
  const documented = ["control", "tokenFile", "tls", "labels", "profiles", "logLevel", "allowOrigins", "allowHosts", "insecure", "proxies", "name", "listen", "upstream", "profile", "enabled", "maxConnections"];
  for (const field of documented)
    assert.ok(
      lines.some((l) => new RegExp(`^\\s*#?\\s*(- )?${field}:`).test(l)),
      `agent/netimpair.yaml does not show the field ${field}`,
    );
  // each top-level setting is preceded by a comment line
  lines.forEach((l, i) => {
    if (/^[a-zA-Z]+:/.test(l)) assert.match(lines[i - 1] ?? "", /^#/, `top-level ${l} has no comment above it`);
  });
});

test("the systemd unit runs `agent --config` with its credential token, unprivileged", () => {
  const unit = parseUnitFile(readFileSync(repoPath("agent/netimpair-agent.service"), "utf8"));
  const execStart = unitValue(unit, "Service", "ExecStart");
  assert.ok(execStart, "no ExecStart");
  const argv = execStart.split(/\s+/);
  assert.ok(posix.isAbsolute(argv[0]!), `ExecStart program ${argv[0]} must be an absolute path`);
  assert.ok(argv[1]!.endsWith("/" + binPath), `ExecStart script ${argv[1]} is not the package bin ${binPath}`);
  assert.equal(argv[2], "agent");
  assert.equal(flagValue(argv, "--config"), "/etc/netimpair/netimpair.yaml");

  const credential = unitValue(unit, "Service", "LoadCredential");
  assert.ok(credential, "no LoadCredential");
  const [credName, credSource] = credential.split(":");
  assert.equal(credSource, "/etc/netimpair/token");
  assert.equal(flagValue(argv, "--token-file"), `\${CREDENTIALS_DIRECTORY}/${credName}`);

  const expected: Record<string, string> = {
    DynamicUser: "yes",
    NoNewPrivileges: "yes",
    ProtectSystem: "strict",
    ProtectHome: "yes",
    PrivateTmp: "yes",
    CapabilityBoundingSet: "",
  };
  for (const [key, value] of Object.entries(expected)) assert.equal(unitValue(unit, "Service", key), value, `[Service] ${key}`);
  assert.deepEqual(unitValue(unit, "Service", "RestrictAddressFamilies")?.split(/\s+/).sort(), ["AF_INET", "AF_INET6", "AF_UNIX"]);
  assert.match(unitValue(unit, "Service", "MemoryMax") ?? "", /^\d+[KMG]?$/, "MemoryMax");
  assert.ok(Number(unitValue(unit, "Service", "LimitNOFILE")) >= 4096, "LimitNOFILE must allow thousands of relayed sockets");
  assert.equal(unitValue(unit, "Service", "User"), undefined, "User= would defeat DynamicUser=");
  assert.notEqual(unitValue(unit, "Service", "MemoryDenyWriteExecute"), "yes", "V8's JIT cannot run with MemoryDenyWriteExecute=yes");
  assert.notEqual(unitValue(unit, "Service", "KillSignal") ?? "SIGTERM", "SIGKILL");
  assert.ok(Number(unitValue(unit, "Service", "TimeoutStopSec") ?? "90") > 5, "TimeoutStopSec must exceed the agent's 5 s shutdown");
  assert.equal(unitValue(unit, "Install", "WantedBy"), "multi-user.target");
});

const stages = parseContainerfile(readFileSync(repoPath("agent/Containerfile"), "utf8"));
const runtime = stages[stages.length - 1]!;

function workdir(stage: Stage): string {
  const w = instructions(stage, "WORKDIR");
  return w.length ? w[w.length - 1]!.args : "/";
}

/** The agent's argv in the final image: ENTRYPOINT then CMD, both in exec form. */
function imageArgv(): string[] {
  const last = (k: string) => instructions(runtime, k).at(-1);
  const entrypoint = last("ENTRYPOINT");
  const cmd = last("CMD");
  return [...(entrypoint ? execForm(entrypoint.args, "ENTRYPOINT") : []), ...(cmd ? execForm(cmd.args, "CMD") : [])];
}

/** The repository file that the final image holds at `path`, via a plain COPY. */
function repoFileAt(path: string): string | undefined {
  for (const copy of instructions(runtime, "COPY").map(parseCopy)) {
    if (copy.from || copy.sources.length !== 1) continue;
    const dest = posix.resolve(workdir(runtime), copy.dest);
    if (dest === path) return copy.sources[0];
  }
  return undefined;
}

function bakedConfig() {
  const configPath = flagValue(imageArgv(), "--config");
  assert.ok(configPath, `the image's command has no --config: ${JSON.stringify(imageArgv())}`);
  const source = repoFileAt(configPath);
  assert.ok(source, `nothing in the Containerfile COPYs a config to ${configPath}`);
  return readAgentYaml(readFileSync(repoPath(source), "utf8"), source);
}

test("the Containerfile builds with dev dependencies and ships production ones only", () => {
  assert.ok(stages.length >= 2, "expected a multi-stage build");
  const build = stages.find((s) => s.name === "build");
  assert.ok(build, "no stage named build");
  const buildRuns = instructions(build, "RUN").map((r) => r.args);
  assert.ok(buildRuns.some((r) => /\bnpm ci\b/.test(r) && !r.includes("--omit=dev")), "build stage: npm ci with dev dependencies");
  assert.ok(buildRuns.some((r) => /\bnpx tsc -p \./.test(r)), "build stage: npx tsc -p .");
  assert.match(runtime.from, /^node:20(\.\d+)*-(slim|alpine)/, "runtime base image");
  const runtimeRuns = instructions(runtime, "RUN").map((r) => r.args);
  assert.ok(runtimeRuns.some((r) => /\bnpm ci\b.*--omit=dev/.test(r)), "runtime stage: npm ci --omit=dev");
  // package.json's "prepare" runs tsc, which --omit=dev does not install
  if (pkg.scripts.prepare?.includes("tsc"))
    for (const r of [...runtimeRuns, ...buildRuns].filter((r) => /\bnpm ci\b/.test(r))) assert.match(r, /--ignore-scripts/, `"prepare" would run tsc in: RUN ${r}`);
  for (const stage of stages)
    for (const copy of instructions(stage, "COPY").map(parseCopy)) {
      if (copy.from) {
        assert.ok(stages.some((s) => s.name === copy.from), `COPY --from=${copy.from}: no such stage`);
        continue;
      }
      for (const src of copy.sources) assert.ok(existsSync(repoPath(src)), `COPY ${src}: not in the repository (build context)`);
    }
});

test("the image runs `agent --config` on the config it bakes in, as a non-root user", () => {
  const argv = imageArgv();
  assert.equal(argv[0], "node");
  // the script is where the build stage's dist/ lands
  const build = stages.find((s) => s.name === "build")!;
  const distCopy = instructions(runtime, "COPY")
    .map(parseCopy)
    .find((c) => c.from === "build" && posix.relative(workdir(build), c.sources[0]!) === "dist");
  assert.ok(distCopy, "no COPY --from=build of the compiled dist/");
  assert.equal(argv[1], posix.join(posix.resolve(workdir(runtime), distCopy.dest), posix.relative("dist", binPath)));
  assert.equal(argv[2], "agent");
  assert.equal(flagValue(argv, "--config"), "/etc/netimpair/netimpair.yaml");

  const user = instructions(runtime, "USER").at(-1)?.args;
  assert.ok(user, "no USER: the image would run as root");
  assert.match(user, /^\d+(:\d+)?$/, "USER numeric, so Kubernetes runAsNonRoot can verify it");
  assert.notEqual(Number(user.split(":")[0]), 0, "USER is root");
});

test("the image's config binds control for the published port, token from the mounted secret, ports exposed", () => {
  const config = bakedConfig();
  assert.ok(!isLoopbackHost(config.control.host), "control on loopback would be unreachable through a published port");
  assert.equal(config.tokenFile, "/run/secrets/netimpair-token", "control off loopback needs the mounted secret token");
  const exposed = instructions(runtime, "EXPOSE").flatMap((e) => e.args.split(/\s+/).map((p) => Number(p.split("/")[0])));
  assert.ok(exposed.includes(config.control.port), `control port ${config.control.port} not in EXPOSE ${exposed.join(" ")}`);
  for (const proxy of config.proxies) {
    assert.ok(!isLoopbackHost(proxy.listen.host), `proxy ${proxy.name} on loopback is unreachable from outside the container`);
    assert.ok(exposed.includes(proxy.listen.port), `proxy ${proxy.name} port ${proxy.listen.port} not in EXPOSE`);
  }
});

/** The HEALTHCHECK as argv, with the check's options checked. */
function healthcheckArgv(): string[] {
  const hc = instructions(runtime, "HEALTHCHECK").at(-1);
  assert.ok(hc, "no HEALTHCHECK");
  const m = /^((?:--\S+\s+)*)CMD\s+(.*)$/.exec(hc.args);
  assert.ok(m, `HEALTHCHECK: expected [OPTIONS] CMD [...], got ${hc.args}`);
  return execForm(m[2]!, "HEALTHCHECK CMD");
}

test("the HEALTHCHECK fetches /healthz on the baked config's control port with node (no curl in slim)", () => {
  const argv = healthcheckArgv();
  assert.deepEqual(argv.slice(0, 2), ["node", "-e"]);
  const { control } = bakedConfig();
  assert.ok(argv[2]!.includes(`http://127.0.0.1:${control.port}/healthz`), `HEALTHCHECK does not fetch 127.0.0.1:${control.port}/healthz: ${argv[2]}`);
});

function runHealthcheck(script: string): Promise<number> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, ["-e", script], { timeout: 10_000 }, (err) => {
      resolve(err ? (typeof err.code === "number" ? err.code : -1) : 0);
    });
    child.on("error", () => resolve(-1));
  });
}

test("the HEALTHCHECK script exits 0 for a 200 /healthz and 1 for an error status or a dead port", async () => {
  const [, , script] = healthcheckArgv();
  const { control } = bakedConfig();
  let status = 200;
  const paths: string[] = [];
  const server: Server = createServer((req, res) => {
    paths.push(req.url ?? "");
    res.statusCode = req.url === "/healthz" ? status : 404;
    res.end();
  });
  server.on("error", (err) => assert.fail(err));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  const aimed = script!.replace(`127.0.0.1:${control.port}`, `127.0.0.1:${port}`);
  try {
    assert.equal(await runHealthcheck(aimed), 0, "healthy agent");
    assert.deepEqual(paths, ["/healthz"]);
    status = 503;
    assert.equal(await runHealthcheck(aimed), 1, "agent answering 503");
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
  }
  assert.equal(await runHealthcheck(aimed), 1, "nothing listening");
});
