/**
 * Telemetry's closed vocabulary: span names, attribute keys and metric names,
 * once. Attribute keys follow the OpenTelemetry semantic conventions (FaaS,
 * process, error); they are spelled out here rather than imported from the
 * incubating entry point of @opentelemetry/semantic-conventions, which may
 * rename them between releases.
 */

/** Child spans of an invocation, in the order they happen. The driver may report more (its own stage names). */
export const STAGES = ["admit", "acquire slot", "prepare root", "spawn", "run", "collect", "store"] as const;
export type Stage = (typeof STAGES)[number];

export const ATTR = {
  faasTrigger: "faas.trigger",
  faasInvocationId: "faas.invocation_id",
  faasColdstart: "faas.coldstart",
  faasInvokedName: "faas.invoked_name",
  faasInvokedProvider: "faas.invoked_provider",
  faasCron: "faas.cron",
  faasTime: "faas.time",
  processPid: "process.pid",
  processExitCode: "process.exit.code",
  errorType: "error.type",
  /** Bunker's own: the attempt number of an async invocation, and the stage of a child span. */
  attempt: "bunker.attempt",
  stage: "bunker.stage",
} as const;

/**
 * FaaS metrics (semantic conventions, units as they specify). Every data point
 * carries `faas.invoked_name` = the function name and `faas.trigger`: the
 * conventions leave the function's identity to resource attributes (one
 * process per function on a cloud FaaS), but one Bunker process runs many
 * functions, so the name is a metric attribute — Bunker's documented choice.
 */
export const METRICS = {
  invocations: "faas.invocations",
  errors: "faas.errors",
  timeouts: "faas.timeouts",
  coldstarts: "faas.coldstarts",
  invokeDuration: "faas.invoke_duration",
  initDuration: "faas.init_duration",
  memUsage: "faas.mem_usage",
  cpuUsage: "faas.cpu_usage",
} as const;

/** `faas.trigger` values: sync HTTP calls are "http", queued async calls "pubsub", cron "timer". */
export type FaasTrigger = "http" | "pubsub" | "timer" | "other";
