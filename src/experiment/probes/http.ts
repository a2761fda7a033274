// An http probe: one request on a fresh connection each sample (no keep-alive agent, so a link
// gone half-open shows as timeouts at once, and the first sample after the heal dials anew).
// A success is the expected status and, when asked, a body holding the expected text.
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import type { HttpCheck } from "../types.js";
import { causeOf, failure, SUCCESS, type Outcome } from "./outcome.js";

/** A body is read up to this many bytes (memory per sample stays bounded). */
export const MAX_BODY_BYTES = 1024 * 1024;

export function probeHttp(check: HttpCheck, timeoutMs: number, signal: AbortSignal): Promise<Outcome> {
  return new Promise((resolve) => {
    let settled = false;
    const request = check.url.startsWith("https:") ? httpsRequest : httpRequest;
    const req = request(check.url, { method: check.method, agent: false, headers: { connection: "close", "user-agent": "netimpair-probe" } }, onResponse);
    const settle = (o: Outcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
      req.destroy();
      resolve(o);
    };
    const onAbort = (): void => settle(failure("aborted"));
    const timer = setTimeout(() => settle(failure("timeout")), timeoutMs);
    signal.addEventListener("abort", onAbort, { once: true });
    req.on("socket", (s) => s.setNoDelay(true));
    req.on("error", (err) => settle(failure(causeOf(err))));
    req.end();

    function onResponse(res: IncomingMessage): void {
      res.on("error", (err) => settle(failure(causeOf(err))));
      if (res.statusCode !== check.status) {
        res.resume();
        settle(failure(`status ${res.statusCode ?? "?"}`));
        return;
      }
      if (check.body === undefined) {
        // the whole answer counts: a body cut off by the link is a failure
        res.resume();
        res.once("end", () => settle(SUCCESS));
        res.once("close", () => settle(res.complete ? SUCCESS : failure("closed")));
        return;
      }
      const want = check.body;
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (d: Buffer) => {
        if (size >= MAX_BODY_BYTES) return;
        chunks.push(d);
        size += d.length;
      });
      res.once("end", () => settle(Buffer.concat(chunks).toString("utf8").includes(want) ? SUCCESS : failure("body mismatch")));
      res.once("close", () => settle(failure("closed")));
    }
  });
}
