import { BunkerError } from "../errors.ts";

/** At max_inflight of the function or at the global limit. */
export class BusyError extends BunkerError {
  readonly retryAfterSeconds: number;
  constructor(message: string, limit: number, scope: "function" | "global", retryAfterSeconds = 1) {
    super("busy", message, { limit, scope });
    this.name = "BusyError";
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** The driver fingerprints as unhealthy or undetected; `reason` is its description. */
export class DriverUnavailableError extends BunkerError {
  constructor(reason: string) {
    super("driver_unavailable", `the exec driver is unavailable: ${reason}`, { reason });
    this.name = "DriverUnavailableError";
  }
}

export class BodyTooLargeError extends BunkerError {
  constructor(limit: number) {
    super("body_too_large", `request body exceeds the function's max_body of ${limit} bytes`, { limit });
    this.name = "BodyTooLargeError";
  }
}

/** The driver refused or failed to start the task (command not found, capability not allowed, ...). */
export class SetupFailedError extends BunkerError {
  constructor(fn: string, reason: string) {
    super("setup_failed", `function "${fn}" could not be started: ${reason}`, { function: fn });
    this.name = "SetupFailedError";
  }
}

export class InvocationNotFoundError extends BunkerError {
  constructor(id: string) {
    super("invocation_not_found", `invocation "${id}" not found`, { id });
    this.name = "InvocationNotFoundError";
  }
}

/** Cancel or signal of an invocation that is not (or no longer) running. */
export class InvocationStateError extends BunkerError {
  constructor(id: string, status: string, action: string) {
    super("invocation_state", `cannot ${action} invocation "${id}": it is ${status}`, { id, state: status });
    this.name = "InvocationStateError";
  }
}

/** The driver's task handles cannot exec into a running task. */
export class ExecUnsupportedError extends BunkerError {
  constructor() {
    super("exec_unsupported", "the exec driver cannot exec into a running task yet");
    this.name = "ExecUnsupportedError";
  }
}
