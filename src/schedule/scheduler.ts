/**
 * Fires scheduled functions. Sleeps on a timer until the next due time (at most `maxSleepMs`, so
 * schedules added through the API are noticed), then claims each due (function, time) in
 * schedule_runs: with several servers on one database, exactly one insert wins and only that
 * server starts the run.
 */
import type { ScheduleRunKind } from "../../db/schema.ts";
import { errorMessage } from "../errors.ts";
import type { FunctionSpec } from "../functions/spec.ts";
import { type Clock, systemClock } from "./clock.ts";
import { lastFireBetween } from "./cron.ts";
import { JobNotFoundError, JobOverlapError } from "./errors.ts";
import type { CronInvoker, CronRunEnd } from "./invoke.ts";
import type { ScheduleRun, ScheduleRunStore } from "./runs.ts";
import { nextNOf, nextOf, type Schedule, scheduleOf } from "./spec.ts";

export interface SchedulerDeps {
  /** The functions right now (files + API); read at every tick. */
  functions: () => FunctionSpec[];
  runs: ScheduleRunStore;
  invoker: CronInvoker;
  /** This server's stable name, stored with each claim. */
  node: string;
  clock?: Clock;
  log?: (line: string) => void;
  /** Longest sleep between ticks (default 30 s): how soon an API-defined schedule is picked up. */
  maxSleepMs?: number;
  /** For jitter; defaults to Math.random. */
  random?: () => number;
}

/** What one tick or trigger did for one due time. */
export interface FireReport {
  function: string;
  scheduledAt: string;
  kind: ScheduleRunKind;
  /** taken = another server (or an earlier tick) claimed it; failed = claimed but could not start. */
  result: "started" | "skipped" | "taken" | "failed";
  invocationId?: string;
  error?: string;
}

export interface JobInfo {
  name: string;
  crons: string[];
  timeZone: string;
  enabled: boolean;
  overlap: Schedule["overlap"];
  catchUp: Schedule["catchUp"];
  jitterMs: number;
  /** ISO 8601; null when disabled or the expression never fires again. */
  next: string | null;
  last: JobRunInfo | null;
}

export interface JobRunInfo {
  scheduledAt: string;
  kind: ScheduleRunKind;
  state: ScheduleRun["state"];
  node: string;
  invocationId: string | null;
  outcome: string | null;
  exitCode: number | null;
  error: string | null;
  finishedAt: string | null;
}

/** A "running" claim older than the function's timeout plus this is taken as lost (its server died). */
const STALE_MARGIN_MS = 60_000;

export function runInfo(r: ScheduleRun): JobRunInfo {
  return {
    scheduledAt: r.scheduledAt.toISOString(),
    kind: r.kind,
    state: r.state,
    node: r.node,
    invocationId: r.invocationId,
    outcome: r.outcome,
    exitCode: r.exitCode,
    error: r.error,
    finishedAt: r.finishedAt?.toISOString() ?? null,
  };
}

export class Scheduler {
  readonly #deps: SchedulerDeps;
  readonly #clock: Clock;
  readonly #log: (line: string) => void;
  /** Per function: due times up to here are handled. */
  readonly #cursors = new Map<string, number>();
  /** Runs started here and not yet recorded as finished. */
  readonly #inflight = new Set<Promise<void>>();
  /** Invocation ids stopped by overlap = "replace", with the time that replaced them. */
  readonly #replaced = new Map<string, string>();
  #disarm: (() => void) | undefined;
  #running = false;
  /** Ticks run one after another. */
  #chain: Promise<unknown> = Promise.resolve();

  constructor(deps: SchedulerDeps) {
    this.#deps = deps;
    this.#clock = deps.clock ?? systemClock;
    this.#log = deps.log ?? (() => {});
  }

  get clock(): Clock {
    return this.#clock;
  }

  /** Catches up missed runs (per `catch_up`), then sleeps until the next due time. */
  async start(): Promise<FireReport[]> {
    this.#running = true;
    const now = this.#clock.now();
    const reports: FireReport[] = [];
    for (const s of this.#schedules()) {
      this.#cursors.set(s.function, now);
      if (!s.enabled) continue;
      try {
        const report = await this.#catchUp(s, now);
        if (report) reports.push(report);
      } catch (err) {
        this.#log(`bunker: schedule ${s.function}: catch-up failed: ${errorMessage(err)}`);
      }
    }
    this.#arm();
    return reports;
  }

  /** Stops firing; runs already started finish on their own (recorded by `idle()`). */
  async stop(): Promise<void> {
    this.#running = false;
    this.#disarm?.();
    this.#disarm = undefined;
    await this.#chain.catch(() => {});
  }

  /** Resolves when every run started here has been recorded as finished. */
  async idle(): Promise<void> {
    while (this.#inflight.size > 0) await Promise.all([...this.#inflight]);
  }

  /** Fires what is due in (last tick, now]. Tests call it directly with a manual clock. */
  tick(now = this.#clock.now()): Promise<FireReport[]> {
    const next = this.#chain.then(() => this.#tick(now));
    this.#chain = next.catch(() => {});
    return next;
  }

  /** Starts a run now, whatever the cron says (`overlap` still applies). */
  async trigger(name: string): Promise<FireReport> {
    const s = this.#require(name);
    let at = this.#clock.now();
    // Two triggers in the same millisecond would share a key; the second moves on by 1 ms.
    for (let attempt = 0; attempt < 10; attempt++, at++) {
      const report = await this.#fire(s, at, null, "manual", this.#clock.now());
      if (report.result === "skipped")
        throw new JobOverlapError(name, report.error ?? "a run is still going");
      if (report.result !== "taken") return report;
    }
    throw new JobOverlapError(name, "could not claim a time slot for the manual run");
  }

  /** The next `n` fire times of a job (ISO 8601). */
  next(name: string, n = 5): string[] {
    const s = this.#require(name);
    return nextNOf(s, this.#clock.now(), n).map((t) => new Date(t).toISOString());
  }

  /** Every scheduled function with its last and next run. */
  async jobs(): Promise<JobInfo[]> {
    const schedules = this.#schedules();
    const last = await this.#deps.runs.latest(schedules.map((s) => s.function));
    const now = this.#clock.now();
    return schedules.map((s) => this.#info(s, now, last.get(s.function)));
  }

  async job(name: string): Promise<JobInfo & { runs: JobRunInfo[] }> {
    const s = this.#require(name);
    const runs = await this.#deps.runs.list(name, 20);
    return { ...this.#info(s, this.#clock.now(), runs[0]), runs: runs.map(runInfo) };
  }

  #info(s: Schedule, now: number, last: ScheduleRun | undefined): JobInfo {
    const next = s.enabled ? nextOf(s, now) : undefined;
    return {
      name: s.function,
      crons: s.crons.map((c) => c.source),
      timeZone: s.timeZone,
      enabled: s.enabled,
      overlap: s.overlap,
      catchUp: s.catchUp,
      jitterMs: s.jitterMs,
      next: next === undefined ? null : new Date(next).toISOString(),
      last: last ? runInfo(last) : null,
    };
  }

  #require(name: string): Schedule {
    const fn = this.#deps.functions().find((f) => f.name === name);
    const s = fn ? scheduleOf(fn) : undefined;
    if (!s) throw new JobNotFoundError(name, fn !== undefined);
    return s;
  }

  #schedules(): Schedule[] {
    const out: Schedule[] = [];
    for (const fn of this.#deps.functions()) {
      const s = scheduleOf(fn);
      if (s) out.push(s);
    }
    return out;
  }

  #function(name: string): FunctionSpec | undefined {
    return this.#deps.functions().find((f) => f.name === name);
  }

  /** The latest due time in (after, until] over all crons, and the expression that produced it. */
  #lastDue(s: Schedule, after: number, until: number): { at: number; cron: string } | undefined {
    let best: { at: number; cron: string } | undefined;
    for (const c of s.crons) {
      const at = lastFireBetween(c, after, until, s.timeZone);
      if (at !== undefined && (best === undefined || at > best.at)) best = { at, cron: c.source };
    }
    return best;
  }

  async #catchUp(s: Schedule, now: number): Promise<FireReport | undefined> {
    const last = await this.#deps.runs.lastScheduled(s.function);
    // Never ran anywhere: a new schedule, nothing was missed.
    if (last === undefined) return undefined;
    const missed = this.#lastDue(s, last.getTime(), now);
    if (missed === undefined) return undefined;
    if (s.catchUp === "skip") {
      this.#log(
        `bunker: schedule ${s.function}: skipping runs missed since ${last.toISOString()} (catch_up = "skip")`,
      );
      return undefined;
    }
    return this.#fire(s, missed.at, missed.cron, "catch_up", now);
  }

  async #tick(now: number): Promise<FireReport[]> {
    const reports: FireReport[] = [];
    const seen = new Set<string>();
    for (const s of this.#schedules()) {
      seen.add(s.function);
      const cursor = this.#cursors.get(s.function);
      this.#cursors.set(s.function, Math.max(now, cursor ?? now));
      // First sight of a schedule (added through the API): it starts counting from now.
      if (cursor === undefined || !s.enabled || now <= cursor) continue;
      // After a stall only the latest due time fires: a late tick never replays a backlog.
      const due = this.#lastDue(s, cursor, now);
      if (due === undefined) continue;
      try {
        reports.push(await this.#fire(s, due.at, due.cron, "scheduled", now));
      } catch (err) {
        const error = errorMessage(err);
        this.#log(`bunker: schedule ${s.function}: ${error}`);
        reports.push({
          function: s.function,
          scheduledAt: new Date(due.at).toISOString(),
          kind: "scheduled",
          result: "failed",
          error,
        });
      }
    }
    for (const name of this.#cursors.keys()) if (!seen.has(name)) this.#cursors.delete(name);
    return reports;
  }

  /** Claims (function, at); if this server won, applies the overlap policy and starts the run. */
  async #fire(
    s: Schedule,
    at: number,
    cron: string | null,
    kind: ScheduleRunKind,
    now: number,
  ): Promise<FireReport> {
    const scheduledAt = new Date(at);
    const base = { function: s.function, scheduledAt: scheduledAt.toISOString(), kind };
    const fn = this.#function(s.function);
    if (!fn) return { ...base, result: "failed", error: `function "${s.function}" no longer exists` };
    const id = Bun.randomUUIDv7();
    const claim = await this.#deps.runs.claim({
      function: s.function,
      scheduledAt,
      kind,
      cron,
      node: this.#deps.node,
      invocationId: id,
      overlap: s.overlap,
      now: new Date(now),
      staleBefore: new Date(now - fn.timeoutMs - STALE_MARGIN_MS),
    });
    if (!claim.claimed) return { ...base, result: "taken" };
    if (claim.row.state === "skipped") {
      this.#log(`bunker: schedule ${s.function}: skipped ${base.scheduledAt}: ${claim.row.error ?? ""}`);
      return { ...base, result: "skipped", ...(claim.row.error ? { error: claim.row.error } : {}) };
    }
    if (s.overlap === "replace") await this.#replace(s, claim.running, base.scheduledAt);
    const start = async (): Promise<FireReport> => {
      const attributes = {
        "faas.trigger": "timer",
        "faas.cron": cron ?? "manual",
        "faas.time": base.scheduledAt,
      };
      try {
        const { done } = await this.#deps.invoker.start({ fn, id, stdin: s.payload, attributes });
        this.#track(s.function, scheduledAt, id, done);
        this.#log(`bunker: schedule ${s.function}: started the ${kind} run of ${base.scheduledAt} as ${id}`);
        return { ...base, result: "started", invocationId: id };
      } catch (err) {
        const error = errorMessage(err);
        await this.#deps.runs
          .finish(s.function, scheduledAt, {
            state: "failed",
            outcome: "error",
            error,
            finishedAt: new Date(this.#clock.now()),
          })
          .catch((e: unknown) => this.#log(`bunker: schedule ${s.function}: ${errorMessage(e)}`));
        return { ...base, result: "failed", invocationId: id, error };
      }
    };
    if (s.jitterMs > 0 && kind !== "manual") {
      const delay = Math.floor((this.#deps.random ?? Math.random)() * s.jitterMs);
      const started = new Promise<void>((resolve) => {
        this.#clock.setTimer(delay, () => void start().then(() => resolve()));
      });
      this.#hold(started);
      return { ...base, result: "started", invocationId: id };
    }
    return start();
  }

  /** overlap = "replace": stop the previous runs this server owns, and wait until they have ended. */
  async #replace(s: Schedule, running: ScheduleRun[], by: string): Promise<void> {
    for (const r of running) {
      if (!r.invocationId) continue;
      this.#replaced.set(r.invocationId, by);
      const stopped = await this.#deps.invoker.cancel(r.invocationId);
      if (!stopped && r.node !== this.#deps.node) {
        this.#log(
          `bunker: schedule ${s.function}: the run of ${r.scheduledAt.toISOString()} runs on ${r.node}; ` +
            "replace can only stop runs of this server, so both run",
        );
      }
    }
  }

  #track(fn: string, scheduledAt: Date, id: string, done: Promise<CronRunEnd>): void {
    const recorded = done.then(async (end) => {
      const replacedBy = this.#replaced.get(id);
      this.#replaced.delete(id);
      await this.#deps.runs.finish(fn, scheduledAt, {
        state: end.status === "succeeded" ? "succeeded" : end.status === "cancelled" ? "cancelled" : "failed",
        outcome: end.status,
        exitCode: end.exitCode,
        error: replacedBy ? `replaced by the run of ${replacedBy} (overlap = "replace")` : end.error,
        finishedAt: new Date(this.#clock.now()),
      });
    });
    this.#hold(recorded.catch((err: unknown) => this.#log(`bunker: schedule ${fn}: ${errorMessage(err)}`)));
  }

  #hold(p: Promise<void>): void {
    const held = p.finally(() => this.#inflight.delete(held));
    this.#inflight.add(held);
  }

  /** Sleeps until the earliest next due time (bounded by maxSleepMs), ticks, repeats. */
  #arm(): void {
    if (!this.#running) return;
    this.#disarm?.();
    const now = this.#clock.now();
    let wake = now + (this.#deps.maxSleepMs ?? 30_000);
    for (const s of this.#schedules()) {
      if (!s.enabled) continue;
      const next = nextOf(s, this.#cursors.get(s.function) ?? now);
      if (next !== undefined && next < wake) wake = next;
    }
    this.#disarm = this.#clock.setTimer(wake - now, () => {
      this.#disarm = undefined;
      void this.tick().finally(() => this.#arm());
    });
  }
}
