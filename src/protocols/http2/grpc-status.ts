// gRPC status codes (names and numbers, grpc/doc/statuscodes.md) and the trailers-only answer
// a server sends when a call fails before any message (grpc/doc/PROTOCOL-HTTP2.md).
import type { OutgoingHttpHeaders } from "node:http2";

export const GRPC_STATUS = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

export type GrpcStatusName = keyof typeof GRPC_STATUS;

/** A message for a status when the rule gives none: the usual server-side wording. */
const DEFAULT_MESSAGES: Record<number, string> = {
  1: "Cancelled",
  2: "Unknown error",
  3: "Invalid argument",
  4: "Deadline exceeded",
  5: "Not found",
  6: "Already exists",
  7: "Permission denied",
  8: "Resource exhausted",
  9: "Failed precondition",
  10: "Aborted",
  11: "Out of range",
  12: "Method not implemented",
  13: "Internal error",
  14: "Service unavailable",
  15: "Data loss",
  16: "Unauthenticated",
};

/** A status from a name ("UNAVAILABLE", any case) or number (1..16); a string says why not. */
export function parseGrpcStatus(value: unknown): number | string {
  if (typeof value === "number") {
    if (Number.isInteger(value) && value >= 1 && value <= 16) return value;
    return `must be a gRPC status 1..16 (0 is OK, not a failure), got ${value}`;
  }
  if (typeof value === "string") {
    if (/^\d+$/.test(value)) return parseGrpcStatus(Number(value));
    const code = (GRPC_STATUS as Record<string, number>)[value.toUpperCase()];
    if (code !== undefined && code !== 0) return code;
    return `must be a gRPC status name (${Object.keys(GRPC_STATUS).slice(1).join(", ")}) or number, got ${JSON.stringify(value)}`;
  }
  return `must be a gRPC status name or number, got ${JSON.stringify(value)}`;
}

export function grpcStatusName(code: number): string {
  return Object.entries(GRPC_STATUS).find(([, v]) => v === code)?.[0] ?? String(code);
}

export function defaultGrpcMessage(code: number): string {
  return DEFAULT_MESSAGES[code] ?? "";
}

/** grpc-message is percent-encoded UTF-8 (PROTOCOL-HTTP2.md "Responses"). */
export function encodeGrpcMessage(text: string): string {
  let out = "";
  for (const b of Buffer.from(text, "utf8")) {
    out += b >= 0x20 && b <= 0x7e && b !== 0x25 ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/** The HEADERS (with END_STREAM) of a trailers-only failure. */
export function trailersOnly(code: number, message: string, contentType = "application/grpc"): OutgoingHttpHeaders {
  return {
    ":status": 200,
    "content-type": contentType.startsWith("application/grpc") ? contentType : "application/grpc",
    "grpc-status": String(code),
    "grpc-message": encodeGrpcMessage(message),
  };
}
