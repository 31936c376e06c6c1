/**
 * Errors are values with a stable code and a message a user understands.
 * Every layer throws a subclass; the gateway maps `code` to an HTTP status and
 * the CLI prints `message` on one line. `detail` carries machine-readable extras.
 */
export class BunkerError extends Error {
  readonly code: string;
  readonly detail: Record<string, unknown> | undefined;
  constructor(code: string, message: string, detail?: Record<string, unknown>) {
    super(message);
    this.name = "BunkerError";
    this.code = code;
    this.detail = detail;
  }
}

/** Invalid user input: a flag, a config field, a request. Maps to 4xx / exit 2. */
export class ValidationError extends BunkerError {
  /** One entry per failing field; `path` is a JSON pointer when known. */
  readonly issues: { path: string; message: string }[];
  constructor(message: string, issues: { path: string; message: string }[] = []) {
    super("invalid", message, { issues });
    this.name = "ValidationError";
    this.issues = issues;
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
