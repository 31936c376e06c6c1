import type { TaskStats } from "./stats.ts";
import type { Outcome, TaskSpec } from "./types.ts";

/** Nomad's fingerprint: `driver.exec` = "1" only when healthy. */
export interface Fingerprint {
  health: "healthy" | "unhealthy" | "undetected";
  /** Nomad's health text: "Healthy", "Driver must run as root", ... */
  description: string;
  attributes: Record<string, string>;
}

/** Where a task's stdio goes. A number is an fd the caller owns (dup'ed into the task). */
export type StdioSpec = "null" | "pipe" | "inherit" | number;

export interface StartOptions {
  stdin?: StdioSpec;
  stdout?: StdioSpec;
  stderr?: StdioSpec;
  /** Called with each stage's start/end for tracing (prepare, spawn, ...). */
  onStage?: (stage: string, startMs: number, endMs: number) => void;
  /** A function's own warm-pool settings (a pool in front of the driver applies them; others ignore them). */
  pool?: PoolSettings;
}

/** Per-function warm-pool settings; what is absent falls back to the server's defaults. */
export interface PoolSettings {
  /** Ready slots kept while the function is in use (0: none ahead, only a refill after a cold start). */
  min?: number;
  /** Ready + preparing slots at most. */
  max?: number;
  /** Unused this long, its ready slots are released. */
  idleTtlMs?: number;
}

/** The write end of a task's stdin pipe. end() closes it, so the task sees EOF. */
export interface TaskStdin {
  /** Resolves once the chunk is in the pipe (back-pressure: awaits a slow reader). */
  write(chunk: Uint8Array): Promise<void>;
  /** Idempotent. */
  end(): Promise<void>;
}

/** A running task. Its streams are present when the matching StdioSpec was "pipe". */
export interface TaskHandle {
  readonly id: string;
  /** Host pid of the task's bunker-init (PID 1 of its namespace in private pid mode). */
  readonly pid: number;
  /** True when the task ran in a slot prepared before it was asked for (telemetry: faas.coldstart = !warm). */
  readonly warm: boolean;
  readonly stdin: TaskStdin | null;
  readonly stdout: ReadableStream<Uint8Array> | null;
  readonly stderr: ReadableStream<Uint8Array> | null;
  /** Resolves as soon as the task's end is known (teardown follows, see closed()). */
  wait(): Promise<Outcome>;
  /** Resolves once the task's cgroup, task directory and processes are all gone. */
  closed(): Promise<void>;
  /** Nomad `alloc signal`: the main process by default. Unknown names throw. */
  signal(signal: string, scope?: "main" | "group" | "all"): void;
  /** Nomad stop: kill_signal, wait kill_timeout, then SIGKILL of the whole cgroup. */
  stop(opts?: { signal?: string; timeoutMs?: number }): Promise<Outcome>;
  /** Nomad's TaskResourceUsage now (CPU percent since the previous sample); throws after the end. */
  stats(): TaskStats;
  /** A sample at once and every `intervalMs` (default 1000), ending when the task exits. */
  statsStream(intervalMs?: number): AsyncIterable<TaskStats>;
  /**
   * Nomad `alloc exec`: a new process in the task's namespaces, root, cgroup,
   * user and capability set, with the task's environment (plus `env`).
   */
  exec(command: string, args: string[], opts?: ExecOptions): Promise<ExecSession>;
}

export interface ExecOptions {
  /** A terminal of the task's own devpts; stdout carries its output, stderr is null. */
  tty?: boolean;
  cols?: number;
  rows?: number;
  env?: Record<string, string>;
}

/** A process started in a running task by exec(). Its stdin and stdout are always pipes (or the terminal). */
export interface ExecSession {
  readonly pid: number;
  readonly stdin: TaskStdin;
  readonly stdout: ReadableStream<Uint8Array>;
  readonly stderr: ReadableStream<Uint8Array> | null;
  /** Exit code (128+N for signal N), once the process ended. */
  wait(): Promise<{ exitCode: number; signal: number | null; error?: string }>;
  /** Terminal size; ignored without a TTY. */
  resize(cols: number, rows: number): void;
  signal(signal: string): void;
}

export interface Driver {
  fingerprint(): Fingerprint;
  start(spec: TaskSpec, opts?: StartOptions): Promise<TaskHandle>;
}
