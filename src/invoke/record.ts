import type { Outcome, TerminationReason } from "../driver/types.ts";

export type InvocationMode = "sync" | "async";

export type InvocationStatus =
  | "queued"
  | "running"
  | "succeeded"
  | "failed"
  | "timeout"
  | "cancelled"
  | "error";

export const FINAL_STATUSES: ReadonlySet<InvocationStatus> = new Set([
  "succeeded",
  "failed",
  "timeout",
  "cancelled",
  "error",
]);

/** What is known about one invocation; sinks receive snapshots. Times are ISO 8601. */
export interface InvocationRecord {
  id: string;
  function: string;
  mode: InvocationMode;
  status: InvocationStatus;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  durationMs?: number;
  /** Runs so far (async retries count up). */
  attempts: number;
  exitCode?: number;
  signal?: number | null;
  reason?: TerminationReason;
  /** Why it did not run or why it was cut short (body/output too large, setup failure). */
  error?: string;
  /** Last 4 KiB of stderr, UTF-8 (lossy). */
  stderrTail?: string;
  idempotencyKey?: string;
  callbackUrl?: string;
  /** HTTP status of the last callback delivery, or null when it could not be delivered. */
  callbackStatus?: number | null;
  /** W3C trace id of the invocation's span, when telemetry is on. */
  traceId?: string;
  /** Set for scheduled runs; otherwise the trigger follows from mode (http or async). */
  trigger?: "cron";
  /** Ran in a slot prepared before it was asked for (unknown until the task started). */
  warm?: boolean;
}

/**
 * Where invocation records go. The in-memory log implements it now; the store layer
 * (Postgres / PGlite) implements it later. Called synchronously; must not throw.
 */
export interface InvocationSink {
  onQueued(record: InvocationRecord): void;
  onStarted(record: InvocationRecord): void;
  /** `outcome` carries the driver's exit status and resource usage when the task ran. */
  onFinished(record: InvocationRecord, outcome?: Outcome | null): void;
}

export interface InvocationQuery {
  function?: string;
  status?: InvocationStatus;
  limit?: number;
}

/** Reads back invocations (newest first); the store's reader answers asynchronously. */
export interface InvocationReader {
  get(id: string): InvocationRecord | undefined | Promise<InvocationRecord | undefined>;
  list(query: InvocationQuery): InvocationRecord[] | Promise<InvocationRecord[]>;
}

export function fanOut(...sinks: InvocationSink[]): InvocationSink {
  const each = (f: (s: InvocationSink) => void) => {
    for (const s of sinks) {
      try {
        f(s);
      } catch {
        // A sink that throws must not break an invocation.
      }
    }
  };
  return {
    onQueued: (r) => each((s) => s.onQueued(r)),
    onStarted: (r) => each((s) => s.onStarted(r)),
    onFinished: (r, outcome) => each((s) => s.onFinished(r, outcome)),
  };
}
