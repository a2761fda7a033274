// Kubernetes manifest checks for tests: schema validation with kubernetes-models, plus a
// strict "unknown field" check (kubectl's default --validate=strict rejects unknown
// fields, but kubernetes-models' validators allow them, so a typo such as
// `readinesProbe` would otherwise pass unnoticed).
import { readFileSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Secret } from "kubernetes-models/v1/Secret";
import { Service } from "kubernetes-models/v1/Service";
import { repoPath } from "./repo-path.js";

/** A parsed manifest document: any JSON-like object with apiVersion and kind. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata?: { name?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

interface Validatable {
  validate(): void;
}
type ModelFactory = (data: K8sObject) => Validatable;

// The kinds our manifests use. A manifest of another kind fails loudly, so adding one
// means adding its model here.
const models: Record<string, ModelFactory> = {
  "apps/v1 Deployment": (d) => new Deployment(d as ConstructorParameters<typeof Deployment>[0]),
  "v1 ConfigMap": (d) => new ConfigMap(d as ConstructorParameters<typeof ConfigMap>[0]),
  "v1 Secret": (d) => new Secret(d as ConstructorParameters<typeof Secret>[0]),
  "v1 Service": (d) => new Service(d as ConstructorParameters<typeof Service>[0]),
};

/** Throws unless `obj` is a known kind that satisfies its Kubernetes schema and has no unknown fields. */
export function validateK8sObject(obj: K8sObject): void {
  const key = `${obj.apiVersion} ${obj.kind}`;
  const model = models[key];
  if (!model) throw new Error(`no model for apiVersion ${JSON.stringify(obj.apiVersion)} kind ${JSON.stringify(obj.kind)}`);
  model(obj).validate();
  const unknown = unknownFields(obj, modelDeclarationFile(obj.apiVersion, obj.kind));
  if (unknown.length > 0) throw new Error(`unknown field(s) in ${obj.kind}: ${unknown.join(", ")}`);
}

function modelsRoot(): string {
  return repoPath("node_modules/kubernetes-models");
}

function modelDeclarationFile(apiVersion: string, kind: string): string {
  return join(modelsRoot(), apiVersion, `${kind}.d.ts`);
}

// ---- the field list of each model, read from its .d.ts ----

/** What a property may hold: another model (by its .d.ts), a map of them, or a leaf value. */
interface FieldType {
  file?: string; // the nested model's declaration file; undefined = leaf (string, number, union...)
  map: boolean; // { [key: string]: T }
}
type FieldTable = Map<string, FieldType>;

const tables = new Map<string, FieldTable | null>();

/** Fields of the first interface declared in `file`; null when it declares only a type alias (leaf). */
function fieldTable(file: string): FieldTable | null {
  const cached = tables.get(file);
  if (cached !== undefined) return cached;
  const text = readFileSync(file, "utf8").replace(/\/\*\*[\s\S]*?\*\//g, "");
  const imports = new Map<string, string>();
  for (const m of text.matchAll(/import \{ (\w+) \} from "([^"]+)";/g)) imports.set(m[1]!, m[2]!);
  const body = /export interface \w+ (?:extends \w+ )?\{\n([\s\S]*?)\n\}/.exec(text);
  if (!body) {
    tables.set(file, null);
    return null;
  }
  const table: FieldTable = new Map();
  // Top-level members are indented 4 spaces; map types span lines and hold "[key: string]: T;".
  for (const m of body[1]!.matchAll(/^ {4}"([^"]+)"\??: ([^\n]*?);?$(?:\n {8}\[key: string\]: ([^;]+);\n {4}\};)?/gm)) {
    const name = m[1]!;
    const isMap = m[3] !== undefined;
    const typeText = (isMap ? m[3]! : m[2]!).trim();
    const typeName = /^(?:Array<)?(\w+)>?$/.exec(typeText)?.[1];
    const from = typeName ? imports.get(typeName) : undefined;
    table.set(name, { file: from ? resolveDeclaration(file, from) : undefined, map: isMap });
  }
  tables.set(file, table);
  return table;
}

function resolveDeclaration(fromFile: string, specifier: string): string {
  const base = specifier.startsWith(".") ? join(dirname(fromFile), specifier) : repoPath("node_modules", specifier);
  const file = `${base}.d.ts`;
  if (!existsSync(file)) throw new Error(`cannot find declarations ${file} (imported by ${fromFile})`);
  return file;
}

/** Paths of fields in `value` that the model declared in `file` does not have. */
export function unknownFields(value: unknown, file: string, path = ""): string[] {
  const table = fieldTable(file);
  if (table === null || value === null || typeof value !== "object") return [];
  if (Array.isArray(value)) return value.flatMap((item, i) => unknownFields(item, file, `${path}[${i}]`));
  const out: string[] = [];
  for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
    const at = path ? `${path}.${key}` : key;
    const field = table.get(key);
    if (!field) {
      out.push(at);
      continue;
    }
    if (!field.file) continue;
    if (field.map && child !== null && typeof child === "object") {
      for (const [k, v] of Object.entries(child as Record<string, unknown>)) out.push(...unknownFields(v, field.file, `${at}.${k}`));
    } else {
      out.push(...unknownFields(child, field.file, at));
    }
  }
  return out;
}
