import type { Driver, ExecOptions, ExecSession, TaskHandle } from "../driver/api.ts";
import type { Outcome, TaskSpec } from "../driver/types.ts";
import { BunkerError, errorMessage } from "../errors.ts";
import type { FunctionSpec } from "../functions/spec.ts";
import type { Admission, Release } from "./admission.ts";
import { BodyTooLargeError, DriverUnavailableError, SetupFailedError } from "./errors.ts";
import type { InvocationMode, InvocationRecord, InvocationSink, InvocationStatus } from "./record.ts";
import { capStream, drain, type Pump, pumpStdin } from "./streams.ts";
import { TailBuffer } from "./tail.ts";
import type { InvocationTrace, InvocationTracer } from "./trace.ts";

export const STDERR_TAIL_BYTES = 4096;

export interface InvokeRequest {
  fn: FunctionSpec;
  mode: InvocationMode;
  /** An id from `queued()` (async); a new one otherwise. */
  id?: string;
  /** Per-call environment (CGI variables, TRACEPARENT). The function's own env wins on a clash. */
  env?: Record<string, string>;
  stdin?: ReadableStream<Uint8Array> | Uint8Array | null;
  /** A slot the caller already holds (async workers wait for one). */
  release?: Release;
  /** What started it when not a caller (the scheduler: "cron"); recorded and traced. */
  trigger?: "cron";
  /** Extra span attributes (the scheduler's faas.cron, faas.time). */
  attributes?: Record<string, string>;
}

export interface RunResult {
  status: InvocationStatus;
  /** Null when the task never started. */
  outcome: Outcome | null;
  durationMs: number;
  timedOut: boolean;
  bodyTooLarge: boolean;
  outputTooLarge: boolean;
  stderrTail: Uint8Array;
  error?: string;
}

/** One started task. Read `stdout` (capped at max_output); `result` never rejects. */
export interface Running {
  readonly id: string;
  readonly stdout: ReadableStream<Uint8Array>;
  readonly result: Promise<RunResult>;
  cancel(): Promise<void>;
  signal(signal: string, scope?: "main" | "group" | "all"): void;
  /** Nomad `alloc exec` into the running task; absent when the driver cannot. */
  exec?: (command: string, args: string[], opts?: ExecOptions) => Promise<ExecSession>;
}

export interface InvokerDeps {
  driver: Driver;
  admission: Admission;
  sink: InvocationSink;
  /** Telemetry (spans and metrics per run); absent = no tracing. */
  tracer?: InvocationTracer;
  newId?: () => string;
}

/** An empty buffered body runs the task with stdin from /dev/null. */
function hasStdin(stdin: InvokeRequest["stdin"]): stdin is ReadableStream<Uint8Array> | Uint8Array {
  return stdin instanceof Uint8Array ? stdin.byteLength > 0 : stdin !== null && stdin !== undefined;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function statusOf(
  outcome: Outcome,
  f: { cancelled: boolean; timedOut: boolean; over: boolean },
): InvocationStatus {
  if (f.cancelled) return "cancelled";
  if (f.timedOut || outcome.reason === "timeout") return "timeout";
  if (outcome.reason === "setup_failed") return "error";
  if (!f.over && outcome.reason === "exited" && outcome.exitCode === 0) return "succeeded";
  return "failed";
}

/**
 * Runs functions on the driver: admission, deadline, stdio plumbing and invocation records.
 * Knows nothing of HTTP.
 */
export class Invoker {
  readonly #driver: Driver;
  readonly #admission: Admission;
  readonly #sink: InvocationSink;
  readonly #tracer: InvocationTracer | undefined;
  readonly #newId: () => string;
  /** Unfinished records, by id. */
  readonly #records = new Map<string, InvocationRecord>();
  readonly #active = new Map<string, Running>();
  /** Invocations whose task is being started (settles once it runs or failed to start). */
  readonly #starting = new Map<string, Promise<unknown>>();

  constructor(deps: InvokerDeps) {
    this.#driver = deps.driver;
    this.#admission = deps.admission;
    this.#sink = deps.sink;
    this.#tracer = deps.tracer;
    this.#newId = deps.newId ?? (() => crypto.randomUUID());
  }

  get admission(): Admission {
    return this.#admission;
  }

  /** Throws DriverUnavailableError with the fingerprint's reason unless the driver is healthy. */
  checkHealth(): void {
    const fp = this.#driver.fingerprint();
    if (fp.health !== "healthy") throw new DriverUnavailableError(fp.description);
  }

  active(id: string): Running | undefined {
    return this.#active.get(id);
  }

  /**
   * The running invocation, waiting first if its task is being started: a
   * cancel or signal that arrives between "running" and the task's start must
   * reach the task, not fail with a state error.
   */
  async whenActive(id: string): Promise<Running | undefined> {
    await this.#starting.get(id);
    return this.#active.get(id);
  }

  /** Creates and publishes a queued record (async calls). */
  queued(fn: string, extra: Partial<InvocationRecord> = {}): InvocationRecord {
    const record: InvocationRecord = {
      id: this.#newId(),
      function: fn,
      mode: "async",
      status: "queued",
      createdAt: iso(Date.now()),
      attempts: 0,
      ...extra,
    };
    this.#records.set(record.id, record);
    this.#sink.onQueued({ ...record });
    return { ...record };
  }

  /** Updates an unfinished record without finishing it (callback result, queue state). */
  update(id: string, patch: Partial<InvocationRecord>): void {
    const r = this.#records.get(id);
    if (r) Object.assign(r, patch);
  }

  /** Finishes a record: from a run result, or with a status and error when it never ran. */
  finish(
    id: string,
    result: RunResult | { status: InvocationStatus; error?: string },
  ): InvocationRecord | undefined {
    const r = this.#records.get(id);
    if (!r) return undefined;
    this.#records.delete(id);
    r.status = result.status;
    r.finishedAt = iso(Date.now());
    if ("outcome" in result) {
      r.durationMs = result.durationMs;
      if (result.outcome) {
        r.exitCode = result.outcome.exitCode;
        r.signal = result.outcome.signal;
        r.reason = result.outcome.reason;
      }
      if (result.stderrTail.byteLength > 0) r.stderrTail = new TextDecoder().decode(result.stderrTail);
    }
    if (result.error !== undefined) r.error = result.error;
    else delete r.error;
    this.#sink.onFinished({ ...r }, "outcome" in result ? result.outcome : null);
    return { ...r };
  }

  /**
   * Starts the function. Throws DriverUnavailableError, BusyError (no slot), BodyTooLargeError
   * (a buffered body over max_body) or SetupFailedError (the driver refused the task).
   */
  async start(req: InvokeRequest): Promise<Running> {
    const { fn } = req;
    let release = req.release;
    const entered = performance.now();
    let admitted = entered;
    try {
      this.checkHealth();
      if (req.stdin instanceof Uint8Array && req.stdin.byteLength > fn.maxBodyBytes) {
        throw new BodyTooLargeError(fn.maxBodyBytes);
      }
      admitted = performance.now();
      release ??= this.#admission.tryAcquire(fn.name, fn.maxInflight);
    } catch (err) {
      release?.();
      throw err;
    }
    const id = req.id ?? this.#newId();
    const now = Date.now();
    let record = this.#records.get(id);
    if (!record) {
      record = { id, function: fn.name, mode: req.mode, status: "running", createdAt: iso(now), attempts: 0 };
      if (req.trigger !== undefined) record.trigger = req.trigger;
      this.#records.set(id, record);
    }
    record.status = "running";
    record.startedAt = iso(now);
    record.attempts++;
    const trace = this.#beginTrace(req, record, entered, admitted);
    this.#sink.onStarted({ ...record });

    // The task sees the invocation span as its parent, not the caller's span.
    const traceEnv = trace ? { TRACEPARENT: trace.traceparent } : {};
    const spec: TaskSpec = { ...fn.task, env: { ...req.env, ...traceEnv, ...fn.task.env } };
    const t0 = performance.now();
    let handle: TaskHandle;
    const starting = this.#driver.start(spec, {
      stdin: hasStdin(req.stdin) ? "pipe" : "null",
      stdout: "pipe",
      stderr: "pipe",
      ...(trace ? { onStage: (stage: string, a: number, b: number) => trace.stage(stage, a, b) } : {}),
      ...(fn.pool ? { pool: fn.pool } : {}),
    });
    // Settles after #watch below has published the Running (same tick as the await resumes).
    this.#starting.set(
      id,
      starting.then(
        () => undefined,
        () => undefined,
      ),
    );
    try {
      handle = await starting;
      // Known only now: the pool either had a ready slot for it or not.
      record.warm = handle.warm;
    } catch (err) {
      this.#starting.delete(id);
      release();
      const reason = errorMessage(err);
      trace?.end({ status: "error", error: reason, outcome: null, endMs: performance.now() });
      if (req.mode === "sync") this.finish(id, { status: "error", error: reason });
      const e = new SetupFailedError(fn.name, reason);
      if (err instanceof BunkerError) Object.assign(e.detail ?? {}, { cause: err.code });
      throw e;
    }
    const running = this.#watch(req, id, handle, release, t0, trace);
    this.#starting.delete(id);
    return running;
  }

  #beginTrace(
    req: InvokeRequest,
    record: InvocationRecord,
    entered: number,
    admitted: number,
  ): InvocationTrace | undefined {
    if (!this.#tracer) return undefined;
    const caller = req.env?.TRACEPARENT;
    const trace = this.#tracer.begin({
      id: record.id,
      function: req.fn.name,
      mode: req.mode,
      attempt: record.attempts,
      startMs: entered,
      ...(caller === undefined ? {} : { traceparent: caller }),
      ...(req.trigger === undefined ? {} : { trigger: req.trigger }),
      ...(req.attributes === undefined ? {} : { attributes: req.attributes }),
    });
    trace.stage("admit", entered, admitted);
    trace.stage("acquire slot", admitted, performance.now());
    record.traceId = trace.traceId;
    return trace;
  }

  #watch(
    req: InvokeRequest,
    id: string,
    handle: TaskHandle,
    release: Release,
    t0: number,
    trace: InvocationTrace | undefined,
  ): Running {
    const { fn } = req;
    const flags = { cancelled: false, timedOut: false, bodyTooLarge: false, outputTooLarge: false };
    const stop = () => void handle.stop().catch(() => {});
    const tail = new TailBuffer(STDERR_TAIL_BYTES);
    const stderrDone = handle.stderr ? drain(handle.stderr, (c) => tail.push(c)) : Promise.resolve();
    let stdin: Pump | undefined;
    if (hasStdin(req.stdin) && handle.stdin) {
      stdin = pumpStdin(req.stdin, handle.stdin, fn.maxBodyBytes, () => {
        flags.bodyTooLarge = true;
        stop();
      });
    }
    const stdout = capStream(
      handle.stdout,
      fn.maxOutputBytes,
      () => {
        flags.outputTooLarge = true;
        stop();
      },
      () => {
        // The reader went away (client disconnected): nobody will read the rest.
        if (!settled) {
          flags.cancelled = true;
          stop();
        }
      },
    );
    let settled = false;
    const timer = setTimeout(() => {
      flags.timedOut = true;
      stop();
    }, fn.timeoutMs);

    const result = (async (): Promise<RunResult> => {
      let outcome: Outcome | null = null;
      let error: string | undefined;
      const runStart = performance.now();
      try {
        outcome = await handle.wait();
      } catch (err) {
        error = `waiting for the task failed: ${errorMessage(err)}`;
      } finally {
        settled = true;
        clearTimeout(timer);
        stdin?.cancel();
        release();
        this.#active.delete(id);
      }
      const waited = performance.now();
      trace?.stage("run", runStart, waited);
      await settleWithin(stderrDone, 1000);
      trace?.stage("collect", waited, performance.now());
      const over = flags.bodyTooLarge || flags.outputTooLarge;
      const status = outcome ? statusOf(outcome, { ...flags, over }) : "error";
      if (flags.bodyTooLarge) error = `request body exceeds max_body of ${fn.maxBodyBytes} bytes`;
      else if (flags.outputTooLarge) error = `output exceeds max_output of ${fn.maxOutputBytes} bytes`;
      else if (status === "timeout") error = `timed out after ${fn.timeoutMs} ms`;
      else if (outcome?.error !== undefined) error = outcome.error;
      const r: RunResult = {
        status,
        outcome,
        durationMs: outcome?.wallMs ?? performance.now() - t0,
        stderrTail: tail.bytes(),
        ...flags,
      };
      if (error !== undefined) r.error = error;
      if (req.mode === "sync") {
        const stored = performance.now();
        this.finish(id, r);
        trace?.stage("store", stored, performance.now());
      }
      trace?.end({
        status: r.status,
        outcome,
        pid: handle.pid,
        warm: handle.warm,
        endMs: performance.now(),
        ...(error === undefined ? {} : { error }),
      });
      return r;
    })();

    const running: Running = {
      id,
      stdout,
      result,
      async cancel() {
        if (settled) return;
        flags.cancelled = true;
        await handle.stop().catch(() => {});
      },
      signal: (signal, scope) => handle.signal(signal, scope),
    };
    // Checked at run time: a driver (or a handle of a pool) may not offer exec-into.
    if (typeof handle.exec === "function") running.exec = (c, a, o) => handle.exec(c, a, o);
    this.#active.set(id, running);
    return running;
  }
}

/** Waits for `p`, at most `ms`; the timer goes as soon as `p` settles (no timer left per call). */
async function settleWithin(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  try {
    await Promise.race([
      p.then(
        () => undefined,
        () => undefined,
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
