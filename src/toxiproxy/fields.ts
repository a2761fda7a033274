// The top-level fields of a Toxiproxy API body, checked against what the endpoint reads. Keys
// match case-insensitively, as Go's encoding/json (Toxiproxy's decoder) matches them, so a
// client that sends `"Enabled"` (Toxiproxy.Net does) works as with Toxiproxy; a key that names
// no field is refused, where Toxiproxy drops it silently (`"attribtues"` would add a 0 ms toxic).
import { badRequest } from "./errors.js";

/** What a proxy body may carry (create, update, /populate entries): Toxiproxy's Proxy, plus the `toxics` its Go client sends back. */
export const PROXY_FIELDS = ["name", "listen", "upstream", "enabled", "toxics"] as const;
/** What a toxic body may carry (create and update). */
export const TOXIC_FIELDS = ["name", "type", "stream", "toxicity", "attributes"] as const;

/**
 * The body with each key spelled as its field; throws a 400 naming the first unknown key (or
 * a field given twice in different cases). `at` locates the body (" at proxy 2").
 */
export function knownFields<F extends string>(body: Record<string, unknown>, fields: readonly F[], at = ""): Partial<Record<F, unknown>> {
  const out: Partial<Record<F, unknown>> = {};
  const spelled = new Map<F, string>();
  for (const [key, value] of Object.entries(body)) {
    const field = fields.find((f) => f === key) ?? fields.find((f) => f.toLowerCase() === key.toLowerCase());
    if (field === undefined) throw badRequest(`unknown field ${JSON.stringify(key)}${at} (known: ${fields.join(", ")})`);
    const earlier = spelled.get(field);
    if (earlier !== undefined) throw badRequest(`field ${JSON.stringify(field)}${at} given twice, as ${JSON.stringify(earlier)} and ${JSON.stringify(key)}`);
    spelled.set(field, key);
    out[field] = value;
  }
  return out;
}
