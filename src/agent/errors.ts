// Errors the agent's operations raise; the control channel turns them into JSON-RPC error objects.
import { ErrorCode, type ErrorCodeValue, type FieldError } from "../control/protocol.js";

export class AgentError extends Error {
  constructor(
    readonly code: ErrorCodeValue,
    message: string,
    readonly data?: FieldError[],
  ) {
    super(message);
    this.name = "AgentError";
  }
}

export function invalidParams(errors: FieldError[]): AgentError {
  const first = errors[0];
  const message = errors.length === 1 && first ? `Invalid params: ${first.path}: ${first.message}` : `Invalid params (${errors.length} problems)`;
  return new AgentError(ErrorCode.InvalidParams, message, errors);
}

export function notFound(message: string): AgentError {
  return new AgentError(ErrorCode.NotFound, message);
}

export function conflict(message: string): AgentError {
  return new AgentError(ErrorCode.Conflict, message);
}

export function cancelled(message: string): AgentError {
  return new AgentError(ErrorCode.Cancelled, message);
}
