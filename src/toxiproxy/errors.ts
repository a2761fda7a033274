// Toxiproxy's error body: {"error": "...", "status": N}, with its messages where it has one.
import { AgentError } from "../agent/errors.js";
import { ErrorCode } from "../control/protocol.js";

export class ToxiproxyApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = "ToxiproxyApiError";
  }

  toJSON(): { error: string; status: number } {
    return { error: this.message, status: this.status };
  }
}

export const badRequest = (detail: string): ToxiproxyApiError => new ToxiproxyApiError(`bad request body: ${detail}`, 400);
export const missingField = (field: string): ToxiproxyApiError => new ToxiproxyApiError(`missing required field: ${field}`, 400);
export const proxyNotFound = (name: string): ToxiproxyApiError => new ToxiproxyApiError(`proxy not found: ${JSON.stringify(name)}`, 404);
export const proxyExists = (name: string): ToxiproxyApiError => new ToxiproxyApiError(`proxy already exists: ${JSON.stringify(name)}`, 409);
export const toxicNotFound = (name: string): ToxiproxyApiError => new ToxiproxyApiError(`toxic not found: ${JSON.stringify(name)}`, 404);
export const toxicExists = (name: string): ToxiproxyApiError => new ToxiproxyApiError(`toxic already exists: ${JSON.stringify(name)}`, 409);
export const invalidStream = (value: unknown): ToxiproxyApiError =>
  new ToxiproxyApiError(`stream was invalid, can be either upstream or downstream (got ${JSON.stringify(value)})`, 400);

/** An agent error (from createProxy, updateProxy, ...) as the Toxiproxy API reports it. */
export function fromAgentError(err: unknown): ToxiproxyApiError {
  if (err instanceof ToxiproxyApiError) return err;
  if (err instanceof AgentError) {
    const status = err.code === ErrorCode.NotFound ? 404 : err.code === ErrorCode.Conflict ? 409 : err.code === ErrorCode.InvalidParams ? 400 : 500;
    const fields = Array.isArray(err.data) ? (err.data as { path: string; message: string }[]) : [];
    const message = fields.length ? fields.map((f) => `${f.path.replace(/^params\./, "")}: ${f.message}`).join("; ") : err.message;
    return new ToxiproxyApiError(message, status);
  }
  return new ToxiproxyApiError(err instanceof Error ? err.message : String(err), 500);
}
