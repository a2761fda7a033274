// Loading the Kubernetes example manifests (agent/kubernetes/*.yaml) and walking the
// relations between their objects: which Deployment runs the agent, with which config,
// behind which Services.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import type { IDeployment } from "kubernetes-models/apps/v1/Deployment";
import type { IConfigMap } from "kubernetes-models/v1/ConfigMap";
import type { IService } from "kubernetes-models/v1/Service";
import type { IContainer } from "kubernetes-models/v1/Container";
import type { K8sObject } from "./k8s-models.js";
import { repoPath } from "./repo-path.js";
import { readAgentYaml, type AgentYaml } from "./agent-yaml.js";

/** Kubernetes IntOrString: a port number or a port name. */
type IntOrString = number | string;

export const kubernetesDir = repoPath("agent/kubernetes");

export interface LoadedObject {
  file: string;
  obj: K8sObject;
}

/** Every document of one multi-document YAML file; throws on YAML errors or non-objects. */
export function loadYamlDocuments(file: string): unknown[] {
  const docs = parseAllDocuments(readFileSync(file, "utf8"));
  if (!Array.isArray(docs)) throw new Error(`${file}: empty`);
  return docs.flatMap((doc, i) => {
    if (doc.errors.length > 0) throw new Error(`${file} document ${i}: ${doc.errors.map((e) => e.message).join("; ")}`);
    const value: unknown = doc.toJS();
    return value === null || value === undefined ? [] : [value];
  });
}

export function manifestFiles(): string[] {
  return readdirSync(kubernetesDir)
    .filter((f) => f.endsWith(".yaml") && f !== "kustomization.yaml")
    .sort();
}

export function loadManifests(): LoadedObject[] {
  return manifestFiles().flatMap((name) =>
    loadYamlDocuments(join(kubernetesDir, name)).map((value, i) => {
      const obj = value as K8sObject;
      if (typeof obj !== "object" || typeof obj.apiVersion !== "string" || typeof obj.kind !== "string")
        throw new Error(`${name} document ${i}: expected a Kubernetes object with apiVersion and kind, got ${JSON.stringify(value)}`);
      return { file: name, obj };
    }),
  );
}

export function ofKind<T>(objects: LoadedObject[], kind: string): T[] {
  return objects.filter((o) => o.obj.kind === kind).map((o) => o.obj as unknown as T);
}

/** The container running `netimpair agent`, if the Deployment has one. */
export function agentContainer(dep: IDeployment): IContainer | undefined {
  return dep.spec?.template.spec?.containers.find((c) => [...(c.command ?? []), ...(c.args ?? [])].includes("agent"));
}

/** The value following `--config` in the container's command line. */
export function configPathOf(c: IContainer): string | undefined {
  const argv = [...(c.command ?? []), ...(c.args ?? [])];
  const i = argv.indexOf("--config");
  return i >= 0 ? argv[i + 1] : undefined;
}

export interface AgentDeployment {
  deployment: IDeployment;
  container: IContainer;
  configPath: string;
  configMap: IConfigMap;
  configKey: string;
  config: AgentYaml;
}

/** Follows --config through the container's volumeMounts to the ConfigMap key and parses it. */
export function resolveAgentDeployment(dep: IDeployment, configMaps: IConfigMap[]): AgentDeployment {
  const name = dep.metadata?.name ?? "?";
  const container = agentContainer(dep);
  if (!container) throw new Error(`Deployment ${name}: no container runs "agent"`);
  const configPath = configPathOf(container);
  if (!configPath) throw new Error(`Deployment ${name}: container ${container.name} has no --config`);
  const mount = (container.volumeMounts ?? []).find((m) => configPath.startsWith(m.mountPath + "/"));
  if (!mount) throw new Error(`Deployment ${name}: --config ${configPath} is not under any volumeMount of ${container.name}`);
  const volume = dep.spec?.template.spec?.volumes?.find((v) => v.name === mount.name);
  const cmName = volume?.configMap?.name;
  if (!cmName) throw new Error(`Deployment ${name}: volume ${mount.name} (holding ${configPath}) is not a ConfigMap`);
  const configMap = configMaps.find((cm) => cm.metadata?.name === cmName);
  if (!configMap) throw new Error(`Deployment ${name}: ConfigMap ${cmName} is not defined in the manifests`);
  const configKey = configPath.slice(mount.mountPath.length + 1);
  const text = configMap.data?.[configKey];
  if (text === undefined) throw new Error(`ConfigMap ${cmName} has no key ${configKey} (the file ${configPath})`);
  return { deployment: dep, container, configPath, configMap, configKey, config: readAgentYaml(text, `ConfigMap ${cmName} key ${configKey}`) };
}

/** The container port a probe/Service port names (by name or number), or undefined. */
export function resolvePort(c: IContainer, port: IntOrString | undefined): number | undefined {
  if (typeof port === "number") return (c.ports ?? []).some((p) => p.containerPort === port) ? port : undefined;
  return (c.ports ?? []).find((p) => p.name === port)?.containerPort;
}

/** True when the Service's selector matches the Deployment's pod template labels. */
export function selects(svc: IService, dep: IDeployment): boolean {
  const selector = svc.spec?.selector;
  if (!selector || Object.keys(selector).length === 0) return false;
  const labels = dep.spec?.template.metadata?.labels ?? {};
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}
