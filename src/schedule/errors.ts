import { BunkerError } from "../errors.ts";

/** The function does not exist or has no `schedule` (a job is a scheduled function). */
export class JobNotFoundError extends BunkerError {
  constructor(name: string, exists: boolean) {
    super(
      "function_not_found",
      exists ? `function "${name}" has no schedule, so it is not a job` : `function "${name}" not found`,
      { function: name },
    );
    this.name = "JobNotFoundError";
  }
}

/** A manual trigger refused by `overlap = "forbid"` while a run is still going. */
export class JobOverlapError extends BunkerError {
  constructor(name: string, reason: string) {
    super("invocation_state", `job "${name}" was not started: ${reason}`, { function: name });
    this.name = "JobOverlapError";
  }
}
