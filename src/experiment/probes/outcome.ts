// What one probe sample came to, and the failure cause a socket error stands for.

export interface Outcome {
  ok: boolean;
  /** why it failed: "timeout", "refused", "reset", "status 503", "exit 1", ... */
  cause?: string;
  /**
   * When the answer came (performance.now), if the sample went on after it (a tcp probe watching
   * for a reset): its time is measured to here.
   */
  answeredAt?: number;
}

export const SUCCESS: Outcome = { ok: true };

export function failure(cause: string): Outcome {
  return { ok: false, cause };
}

/** A short cause for a socket or DNS error: refused, reset, closed, unreachable, dns, else the code. */
export function causeOf(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case "ECONNREFUSED":
      return "refused";
    case "ECONNRESET":
    case "EPIPE":
      return "reset";
    case "ECONNABORTED":
      return "closed";
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return "unreachable";
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return "dns";
    case "ETIMEDOUT":
      return "timeout";
    case undefined:
      return err instanceof Error && /hang up/.test(err.message) ? "closed" : "error";
    default:
      return code.toLowerCase().replace(/^e/, "");
  }
}
