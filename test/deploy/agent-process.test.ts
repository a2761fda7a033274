// The shipped configs and command lines start the real agent: `npm start`'s config, the
// systemd unit's ExecStart with its credential token, and the container's config with its
// mounted secret (and its refusal to run without one).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import type { IConfigMap } from "kubernetes-models/v1/ConfigMap";
import { execFile } from "node:child_process";
import { parseUnitFile, unitValue } from "./unit-file.js";
import { execForm, instructions, parseContainerfile } from "./containerfile.js";
import { repoPath } from "./repo-path.js";
import { loadManifests, ofKind } from "./manifests.js";
import { exitWithin, freePort, startAgentProcess, startHealthyAgent, tempDir, writeConfigCopy, writeToken, type AgentProcess } from "./agent-process.js";

const TOKEN = "deploy-test-token-4f0c";

/** control -> 127.0.0.1:PORT, every proxy -> 127.0.0.1:0 (so nothing collides with a real 15432). */
function onLoopback(controlPort: number) {
  return (config: Record<string, unknown>) => {
    config.control = `127.0.0.1:${controlPort}`;
    for (const p of config.proxies as Array<Record<string, unknown>>) p.listen = "127.0.0.1:0";
  };
}

async function stopCleanly(agent: AgentProcess): Promise<void> {
  const started = Date.now();
  const code = await agent.stop(8000);
  const took = Date.now() - started;
  assert.equal(code, 0, `SIGTERM should exit 0, got ${code}:\n${agent.output()}`);
  assert.ok(took < 6000, `SIGTERM exit took ${took} ms (SPEC: within 5 s)`);
}

test("npm start's config (agent/netimpair.yaml) runs the agent: /healthz and /metrics answer on loopback", async () => {
  const dir = await tempDir();
  let agent: AgentProcess | undefined;
  try {
    const started = await startHealthyAgent(async (port) => {
      await writeConfigCopy(repoPath("agent/netimpair.yaml"), dir.file("netimpair.yaml"), onLoopback(port));
      return ["agent", "--config", dir.file("netimpair.yaml")];
    });
    agent = started.agent;
    const port = started.port;
    const metrics = await fetch(`http://127.0.0.1:${port}/metrics`);
    assert.equal(metrics.status, 200, "no token configured: /metrics is open on loopback");
    assert.match(await metrics.text(), /netimpair_/);
    await stopCleanly(agent);
  } finally {
    await agent?.stop();
    await dir.remove();
  }
});

test("the systemd unit's ExecStart runs the agent with the token from $CREDENTIALS_DIRECTORY", async () => {
  const unit = parseUnitFile(readFileSync(repoPath("agent/netimpair-agent.service"), "utf8"));
  const argv = unitValue(unit, "Service", "ExecStart")!.split(/\s+/);
  const [credName] = unitValue(unit, "Service", "LoadCredential")!.split(":");
  const dir = await tempDir();
  const credentials = dir.file("credentials");
  await mkdir(credentials);
  await writeToken(`${credentials}/${credName}`, TOKEN, 0o400); // systemd hands credentials over as 0400
  const configIndex = argv.indexOf("--config") + 1;
  let agent: AgentProcess | undefined;
  try {
    const started = await startHealthyAgent(async (port) => {
      // what /etc/netimpair/netimpair.yaml holds after the install steps: a copy of agent/netimpair.yaml
      await writeConfigCopy(repoPath("agent/netimpair.yaml"), dir.file("netimpair.yaml"), onLoopback(port));
      return argv
        .slice(2) // node and the script: this checkout's
        .map((a, i) => (i + 2 === configIndex ? dir.file("netimpair.yaml") : a.replace("${CREDENTIALS_DIRECTORY}", credentials)));
    });
    agent = started.agent;
    const port = started.port;
    assert.equal((await fetch(`http://127.0.0.1:${port}/metrics`)).status, 401, "token configured: /metrics without it");
    const authorized = await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(authorized.status, 200, "with the credential's token");
    await authorized.arrayBuffer();
    await stopCleanly(agent);
  } finally {
    await agent?.stop();
    await dir.remove();
  }
});

const runtimeStage = parseContainerfile(readFileSync(repoPath("agent/Containerfile"), "utf8")).at(-1)!;
const containerConfig = repoPath("agent/netimpair.container.yaml");

test("the container's config with its mounted secret token: healthy, and the image's HEALTHCHECK passes", async () => {
  const dir = await tempDir();
  await writeToken(dir.file("netimpair-token"), TOKEN, 0o400);
  let agent: AgentProcess | undefined;
  try {
    const started = await startHealthyAgent(async (port) => {
      await writeConfigCopy(containerConfig, dir.file("netimpair.yaml"), (c) => {
        onLoopback(port)(c);
        c.tokenFile = dir.file("netimpair-token"); // /run/secrets/netimpair-token in the container
      });
      return ["agent", "--config", dir.file("netimpair.yaml")];
    });
    agent = started.agent;
    const port = started.port;
    assert.equal((await fetch(`http://127.0.0.1:${port}/metrics`)).status, 401);
    const hc = /CMD\s+(.*)$/.exec(instructions(runtimeStage, "HEALTHCHECK").at(-1)!.args)![1]!;
    const script = execForm(hc, "HEALTHCHECK CMD")[2]!.replace(/127\.0\.0\.1:\d+/, `127.0.0.1:${port}`);
    const code = await new Promise<number>((resolve) => {
      const child = execFile(process.execPath, ["-e", script], { timeout: 10_000 }, (err) => resolve(err ? (typeof err.code === "number" ? err.code : -1) : 0));
      child.on("error", () => resolve(-1));
    });
    assert.equal(code, 0, "HEALTHCHECK against the running agent");
    await stopCleanly(agent);
  } finally {
    await agent?.stop();
    await dir.remove();
  }
});

test("the container's config without its secret mounted: the agent exits at once, naming the token file", async () => {
  const dir = await tempDir();
  const port = await freePort();
  const missing = dir.file("not-mounted/netimpair-token");
  await writeConfigCopy(containerConfig, dir.file("netimpair.yaml"), (c) => {
    onLoopback(port)(c);
    c.tokenFile = missing;
  });
  const agent = startAgentProcess(["agent", "--config", dir.file("netimpair.yaml")]);
  try {
    const code = await exitWithin(agent, 15_000);
    assert.notEqual(code, 0);
    assert.ok(agent.output().includes(missing), `the error should name ${missing}:\n${agent.output()}`);
  } finally {
    await agent?.stop();
    await dir.remove();
  }
});

test("a world-readable token (e.g. a Swarm secret's default 0444) is refused", async () => {
  const dir = await tempDir();
  await writeToken(dir.file("netimpair-token"), TOKEN, 0o444);
  const port = await freePort();
  await writeConfigCopy(containerConfig, dir.file("netimpair.yaml"), (c) => {
    onLoopback(port)(c);
    c.tokenFile = dir.file("netimpair-token");
  });
  const agent = startAgentProcess(["agent", "--config", dir.file("netimpair.yaml")]);
  try {
    const code = await exitWithin(agent, 15_000);
    assert.notEqual(code, 0);
    assert.ok(agent.output().includes(dir.file("netimpair-token")), `the error should name the token file:\n${agent.output()}`);
  } finally {
    await agent?.stop();
    await dir.remove();
  }
});

test("each Kubernetes ConfigMap's agent config starts the agent, with a 0440 token as fsGroup leaves it", async () => {
  const configMaps = ofKind<IConfigMap>(loadManifests(), "ConfigMap");
  assert.ok(configMaps.length >= 2);
  for (const cm of configMaps) {
    const dir = await tempDir();
    await writeToken(dir.file("token"), TOKEN, 0o440);
    await writeFile(dir.file("original.yaml"), cm.data!["netimpair.yaml"]!);
    let agent: AgentProcess | undefined;
    try {
      agent = (
        await startHealthyAgent(async (port) => {
          await writeConfigCopy(dir.file("original.yaml"), dir.file("netimpair.yaml"), (c) => {
            onLoopback(port)(c);
            c.tokenFile = dir.file("token");
          });
          return ["agent", "--config", dir.file("netimpair.yaml")];
        })
      ).agent;
      await stopCleanly(agent);
    } catch (err) {
      throw new Error(`ConfigMap ${cm.metadata?.name}: ${(err as Error).message}`);
    } finally {
      await agent?.stop();
      await dir.remove();
    }
  }
});
