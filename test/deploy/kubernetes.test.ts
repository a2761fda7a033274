// The Kubernetes examples (agent/kubernetes): every object is valid against the Kubernetes
// schema, and the objects agree with each other and with the agent config they embed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join, posix } from "node:path";
import { parse as parseYaml } from "yaml";
import type { IDeployment } from "kubernetes-models/apps/v1/Deployment";
import type { IConfigMap } from "kubernetes-models/v1/ConfigMap";
import type { IService } from "kubernetes-models/v1/Service";
import { isLoopbackHost } from "../../src/relay/address.js";
import { validateK8sObject, type K8sObject } from "./k8s-models.js";
import {
  agentContainer,
  kubernetesDir,
  loadManifests,
  manifestFiles,
  ofKind,
  resolveAgentDeployment,
  resolvePort,
  selects,
  type AgentDeployment,
} from "./manifests.js";
import { repoPath } from "./repo-path.js";

const objects = loadManifests();
const deployments = ofKind<IDeployment>(objects, "Deployment");
const configMaps = ofKind<IConfigMap>(objects, "ConfigMap");
const services = ofKind<IService>(objects, "Service");
const agents: AgentDeployment[] = deployments.filter((d) => agentContainer(d)).map((d) => resolveAgentDeployment(d, configMaps));

test("the examples hold a sidecar agent, a standalone agent, their Services and a headless Service", () => {
  assert.ok(agents.length >= 2, `expected at least 2 Deployments running the agent, got ${agents.length}`);
  assert.ok(
    agents.some((a) => (a.deployment.spec?.template.spec?.containers.length ?? 0) > 1),
    "no Deployment runs the agent as a sidecar beside an app container",
  );
  assert.ok(
    agents.some((a) => a.deployment.spec?.template.spec?.containers.length === 1),
    "no Deployment runs the agent standalone",
  );
  assert.ok(services.some((s) => s.spec?.clusterIP === "None"), "no headless Service");
});

test("kustomization.yaml lists every manifest file, and only files that exist", () => {
  const kustomization = parseYaml(readFileSync(join(kubernetesDir, "kustomization.yaml"), "utf8")) as { apiVersion?: string; kind?: string; resources?: unknown };
  assert.equal(kustomization.apiVersion, "kustomize.config.k8s.io/v1beta1");
  assert.equal(kustomization.kind, "Kustomization");
  assert.ok(Array.isArray(kustomization.resources), "kustomization.yaml: resources must be a list");
  const resources = kustomization.resources as unknown[];
  for (const r of resources) {
    assert.equal(typeof r, "string", `kustomization.yaml: resource ${JSON.stringify(r)} is not a path`);
    assert.ok(existsSync(join(kubernetesDir, r as string)), `kustomization.yaml lists ${String(r)}, which does not exist`);
  }
  assert.deepEqual([...resources].sort(), manifestFiles(), "kustomization.yaml resources differ from the manifest files in agent/kubernetes");
});

test("every manifest object satisfies the Kubernetes schema and has no unknown fields", () => {
  assert.ok(objects.length >= 7, `expected at least 7 objects, got ${objects.length}`);
  for (const { file, obj } of objects) {
    assert.doesNotThrow(() => validateK8sObject(obj), `${file}: ${obj.kind} ${obj.metadata?.name}`);
    assert.match(obj.metadata?.name ?? "", /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, `${file}: ${obj.kind} name must be a DNS label`);
  }
  const names = objects.map(({ obj }) => `${obj.kind}/${obj.metadata?.name}`);
  assert.equal(new Set(names).size, names.length, `duplicate objects: ${names.join(", ")}`);
});

test("the validator rejects broken manifests", () => {
  const original = objects.find(({ obj }) => obj.kind === "Deployment")!.obj;
  const broken = (mutate: (d: IDeployment) => void): K8sObject => {
    const copy = structuredClone(original) as unknown as IDeployment;
    mutate(copy);
    return copy as unknown as K8sObject;
  };
  assert.doesNotThrow(() => validateK8sObject(broken(() => {})));
  const agentOf = (d: IDeployment) => agentContainer(d)!;
  assert.throws(
    () => validateK8sObject(broken((d) => ((agentOf(d).ports![0] as { containerPort: unknown }).containerPort = "8474"))),
    /containerPort must be integer/,
  );
  assert.throws(() => validateK8sObject(broken((d) => delete (d.spec as { selector?: unknown }).selector)), /required property selector/);
  assert.throws(() => validateK8sObject(broken((d) => ((d.spec!.template.spec as { containers?: unknown }).containers = undefined))), /containers/);
  // a typo: kubectl --validate=strict refuses it; the schema validator alone would not
  assert.throws(
    () => validateK8sObject(broken((d) => Object.assign(agentOf(d), { readinesProbe: agentOf(d).readinessProbe }))),
    /unknown field\(s\) in Deployment: spec\.template\.spec\.containers\[\d\]\.readinesProbe/,
  );
  assert.throws(() => validateK8sObject({ ...original, apiVersion: "apps/v1beta9" }), /no model for apiVersion "apps\/v1beta9"/);
  const cm = objects.find(({ obj }) => obj.kind === "ConfigMap")!.obj;
  assert.throws(() => validateK8sObject({ ...cm, data: { "netimpair.yaml": 8474 } }), /must be string/);
});

for (const agent of agents) {
  const name = agent.deployment.metadata?.name;
  const podSpec = agent.deployment.spec!.template.spec!;
  const c = agent.container;

  test(`${name}: the control port is the containerPort, the probes' port and the Services' targetPort`, () => {
    const controlPort = agent.config.control.port;
    assert.notEqual(controlPort, 0, "control port 0 cannot be probed or exposed");
    assert.ok((c.ports ?? []).some((p) => p.containerPort === controlPort), `control port ${controlPort} is not a containerPort of ${c.name}`);
    for (const probeName of ["readinessProbe", "livenessProbe"] as const) {
      const probe = c[probeName];
      assert.ok(probe?.httpGet, `${c.name} has no ${probeName}.httpGet`);
      assert.equal(probe.httpGet.path, "/healthz", `${probeName} path`);
      assert.equal(resolvePort(c, probe.httpGet.port), controlPort, `${probeName} port ${String(probe.httpGet.port)} is not the control port ${controlPort}`);
      assert.notEqual(probe.httpGet.scheme, "HTTPS", "probe scheme HTTPS but config has no tls");
    }
    const controlServices = services.filter((s) => selects(s, agent.deployment) && s.spec?.ports?.some((p) => p.port === controlPort));
    assert.ok(controlServices.length >= 1, `no Service exposes the control port ${controlPort} of ${name}`);
    for (const svc of controlServices)
      for (const p of svc.spec!.ports!.filter((p) => p.port === controlPort))
        assert.equal(resolvePort(c, p.targetPort ?? p.port), controlPort, `Service ${svc.metadata?.name} port ${p.port} targets ${String(p.targetPort)}, not the control port`);
  });

  test(`${name}: proxies reachable from outside the pod are containerPorts, loopback ones are not`, () => {
    assert.ok(agent.config.proxies.length >= 1, "the embedded config defines no proxy");
    for (const proxy of agent.config.proxies) {
      const declared = (c.ports ?? []).some((p) => p.containerPort === proxy.listen.port);
      if (isLoopbackHost(proxy.listen.host))
        assert.ok(!declared, `proxy ${proxy.name} listens on loopback ${proxy.listen.host}:${proxy.listen.port}; declaring it as a containerPort suggests it is reachable`);
      else assert.ok(declared, `proxy ${proxy.name} listens on ${proxy.listen.host}:${proxy.listen.port}, which is not a containerPort of ${c.name}`);
      assert.ok(!isLoopbackHost(proxy.upstream.host), `proxy ${proxy.name} upstream ${proxy.upstream.host} is the pod itself`);
    }
  });

  test(`${name}: control off loopback is protected by a token file from a not-world-readable Secret mount`, () => {
    assert.ok(!isLoopbackHost(agent.config.control.host), "the example must bind control on the pod IP so Services reach it");
    const tokenFile = agent.config.tokenFile;
    assert.ok(tokenFile, "control is not loopback, so the config needs tokenFile (the agent refuses to start without it)");
    const mount = (c.volumeMounts ?? []).find((m) => tokenFile.startsWith(m.mountPath + "/"));
    assert.ok(mount, `tokenFile ${tokenFile} is not under any volumeMount of ${c.name}`);
    assert.equal(mount.readOnly, true, `volumeMount ${mount.name} should be readOnly`);
    const secret = podSpec.volumes?.find((v) => v.name === mount.name)?.secret;
    assert.ok(secret?.secretName, `volume ${mount.name} (holding ${tokenFile}) is not a Secret`);
    const key = posix.relative(mount.mountPath, tokenFile);
    if (secret.items) assert.ok(secret.items.some((i) => i.path === key), `Secret volume items do not project ${key}`);
    assert.equal(typeof secret.defaultMode, "number", "the Secret volume needs an explicit defaultMode");
    assert.equal(secret.defaultMode! & 0o004, 0, `defaultMode ${secret.defaultMode!.toString(8)} makes the token world-readable`);
    // Secret files are root-owned: a non-root agent reads a 0400 file only through fsGroup.
    assert.equal(typeof podSpec.securityContext?.fsGroup, "number", "pod securityContext.fsGroup must be set so the non-root agent can read the token");
    // The deployment guide's kubectl command creates exactly this Secret and key.
    const readme = readFileSync(repoPath("docs/deployment.md"), "utf8");
    assert.ok(
      readme.includes(`kubectl create secret generic ${secret.secretName} --from-file=${key}=`),
      `docs/deployment.md does not show how to create Secret ${secret.secretName} with key ${key}`,
    );
  });

  test(`${name}: the agent container is hardened and bounded`, () => {
    const sc = c.securityContext ?? {};
    const runAsNonRoot = sc.runAsNonRoot ?? podSpec.securityContext?.runAsNonRoot;
    assert.equal(runAsNonRoot, true, "runAsNonRoot");
    const uid = sc.runAsUser ?? podSpec.securityContext?.runAsUser;
    assert.ok(typeof uid === "number" && uid > 0, `runAsUser must be a non-root uid, got ${uid}`);
    assert.equal(sc.readOnlyRootFilesystem, true, "readOnlyRootFilesystem");
    assert.equal(sc.allowPrivilegeEscalation, false, "allowPrivilegeEscalation");
    assert.deepEqual(sc.capabilities?.drop, ["ALL"], "capabilities.drop");
    assert.equal(sc.capabilities?.add, undefined, "no capabilities added");
    assert.ok(c.resources?.requests?.memory && c.resources?.limits?.memory, "memory request and limit");
    assert.ok(c.resources?.requests?.cpu, "cpu request");
    assert.equal(podSpec.automountServiceAccountToken, false, "the agent needs no Kubernetes API token");
    assert.match(c.image ?? "", /netimpair:\d+\.\d+\.\d+$/, "agent image pinned to a version");
    const grace = podSpec.terminationGracePeriodSeconds ?? 30;
    assert.ok(grace > 5, `terminationGracePeriodSeconds ${grace} must exceed the agent's 5 s shutdown`);
  });
}

test("every Service selects a Deployment and targets ports its containers declare", () => {
  for (const svc of services) {
    const selected = deployments.filter((d) => selects(svc, d));
    assert.ok(selected.length >= 1, `Service ${svc.metadata?.name} selects no pod template`);
    for (const dep of selected)
      for (const p of svc.spec?.ports ?? []) {
        const target = p.targetPort ?? p.port;
        const containers = dep.spec!.template.spec!.containers;
        assert.ok(
          containers.some((c) => resolvePort(c, target) !== undefined),
          `Service ${svc.metadata?.name} port ${p.port} targets ${String(target)}, not declared by Deployment ${dep.metadata?.name}`,
        );
      }
  }
});

test("the headless Service reaches every agent's control port, sidecar or standalone", () => {
  const headless = services.filter((s) => s.spec?.clusterIP === "None");
  assert.equal(headless.length, 1);
  const svc = headless[0]!;
  assert.equal(svc.metadata?.name, "netimpair-agents", "the README and the CLI examples use dns://netimpair-agents.NAMESPACE.svc:8474");
  for (const agent of agents) {
    assert.ok(selects(svc, agent.deployment), `headless Service does not select Deployment ${agent.deployment.metadata?.name}`);
    const port = svc.spec!.ports!.find((p) => p.name === "control");
    assert.ok(port, "headless Service has no port named control");
    assert.equal(port.port, agent.config.control.port, "dns:// fan-out dials the Service port on each pod IP, so it must equal the control port");
    assert.equal(resolvePort(agent.container, port.targetPort ?? port.port), agent.config.control.port);
  }
  // Nothing but agents behind it: a dns:// fan-out must not dial unrelated pods.
  for (const dep of deployments) if (selects(svc, dep)) assert.ok(agentContainer(dep), `headless Service selects ${dep.metadata?.name}, which runs no agent`);
});

test("the sidecar's app container talks to the proxy on localhost, which relays to the database Service", () => {
  const sidecar = agents.find((a) => (a.deployment.spec?.template.spec?.containers.length ?? 0) > 1);
  assert.ok(sidecar);
  const app = sidecar.deployment.spec!.template.spec!.containers.find((c) => c !== sidecar.container)!;
  const env = new Map((app.env ?? []).map((e) => [e.name, e.value]));
  const pg = sidecar.config.proxies.find((p) => p.upstream.host === "postgres" && p.upstream.port === 5432);
  assert.ok(pg, "the sidecar config has no proxy to postgres:5432");
  assert.equal(env.get("PGHOST"), "localhost");
  assert.equal(env.get("PGPORT"), String(pg.listen.port), "the app's PGPORT is not the proxy's listen port");
  assert.ok(isLoopbackHost(pg.listen.host) || pg.listen.host === "0.0.0.0", `proxy listens on ${pg.listen.host}, unreachable via localhost`);
});
