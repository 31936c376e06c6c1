/**
 * The schedule_runs table: claims that decide which server fires a scheduled time, and what
 * became of each run. Works on Postgres and PGlite alike (handed a Db by the composition root).
 */
import { and, desc, eq, inArray, lt, ne, sql } from "drizzle-orm";
import { type ScheduleRunKind, type ScheduleRunState, scheduleRuns } from "../../db/schema.ts";
import type { Db } from "../store/db.ts";
import { storeError } from "../store/errors.ts";
import type { OverlapPolicy } from "./spec.ts";

export type ScheduleRun = typeof scheduleRuns.$inferSelect;

export interface ClaimRequest {
  function: string;
  scheduledAt: Date;
  kind: ScheduleRunKind;
  cron: string | null;
  node: string;
  invocationId: string;
  overlap: OverlapPolicy;
  now: Date;
  /** A "running" row claimed before this is taken as lost (its server died; the timeout has long passed). */
  staleBefore: Date;
}

export type ClaimResult =
  /** Another server (or an earlier tick) already claimed this time. */
  | { claimed: false }
  /** Ours; `state` is "running" (start it) or "skipped" (forbid, `running` says by what). */
  | { claimed: true; row: ScheduleRun; running: ScheduleRun[] };

export interface FinishPatch {
  state: ScheduleRunState;
  outcome?: string | null;
  exitCode?: number | null;
  error?: string | null;
  invocationId?: string | null;
  finishedAt: Date;
}

/** Every advisory lock of the scheduler lives under this first key ("Bsch"); the second is the function. */
const LOCK_SPACE = 0x42_73_63_68;

export class ScheduleRunStore {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
  }

  /**
   * Claims (function, scheduledAt) once across every server on this database. Under a
   * per-function transaction lock it marks stale runs lost, looks at the runs still going and
   * inserts the claim already in its final first state — "running" or "skipped" — so the overlap
   * check and the claim are one step: two servers claiming two different times of the same
   * function cannot both see "nothing running" (Nomad's prohibit_overlap race, issue #11052).
   */
  async claim(c: ClaimRequest): Promise<ClaimResult> {
    try {
      return await this.#db.transaction(async (tx) => {
        await tx.execute(sql`select pg_advisory_xact_lock(${LOCK_SPACE}, hashtext(${c.function}))`);
        await tx
          .update(scheduleRuns)
          .set({
            state: "lost",
            error: "the server running it stopped before it finished",
            finishedAt: c.now,
          })
          .where(
            and(
              eq(scheduleRuns.function, c.function),
              eq(scheduleRuns.state, "running"),
              lt(scheduleRuns.claimedAt, c.staleBefore),
            ),
          );
        const running = await tx
          .select()
          .from(scheduleRuns)
          .where(and(eq(scheduleRuns.function, c.function), eq(scheduleRuns.state, "running")))
          .orderBy(scheduleRuns.scheduledAt);
        const skip = c.overlap === "forbid" && running.length > 0;
        const first = running[0];
        const inserted = await tx
          .insert(scheduleRuns)
          .values({
            function: c.function,
            scheduledAt: c.scheduledAt,
            kind: c.kind,
            cron: c.cron,
            node: c.node,
            invocationId: skip ? null : c.invocationId,
            state: skip ? "skipped" : "running",
            error:
              skip && first
                ? `overlap = "forbid": the run of ${first.scheduledAt.toISOString()} is still running`
                : null,
            claimedAt: c.now,
            finishedAt: skip ? c.now : null,
          })
          .onConflictDoNothing()
          .returning();
        const row = inserted[0];
        return row ? { claimed: true as const, row, running } : { claimed: false as const };
      });
    } catch (err) {
      throw storeError(`cannot claim the run of ${c.function} at ${c.scheduledAt.toISOString()}`, err);
    }
  }

  async finish(fn: string, scheduledAt: Date, patch: FinishPatch): Promise<void> {
    try {
      await this.#db
        .update(scheduleRuns)
        .set(patch)
        .where(and(eq(scheduleRuns.function, fn), eq(scheduleRuns.scheduledAt, scheduledAt)));
    } catch (err) {
      throw storeError(`cannot record the end of the run of ${fn} at ${scheduledAt.toISOString()}`, err);
    }
  }

  /** The latest claimed time of scheduled or catch-up runs (manual runs do not count for catch-up). */
  async lastScheduled(fn: string): Promise<Date | undefined> {
    try {
      const [row] = await this.#db
        .select({ at: scheduleRuns.scheduledAt })
        .from(scheduleRuns)
        .where(and(eq(scheduleRuns.function, fn), ne(scheduleRuns.kind, "manual")))
        .orderBy(desc(scheduleRuns.scheduledAt))
        .limit(1);
      return row?.at;
    } catch (err) {
      throw storeError(`cannot read the last run of ${fn}`, err);
    }
  }

  /** Newest first. */
  async list(fn: string, limit = 20): Promise<ScheduleRun[]> {
    try {
      return await this.#db
        .select()
        .from(scheduleRuns)
        .where(eq(scheduleRuns.function, fn))
        .orderBy(desc(scheduleRuns.scheduledAt))
        .limit(limit);
    } catch (err) {
      throw storeError(`cannot list the runs of ${fn}`, err);
    }
  }

  /** The newest run of each function. */
  async latest(fns: string[]): Promise<Map<string, ScheduleRun>> {
    const out = new Map<string, ScheduleRun>();
    if (fns.length === 0) return out;
    try {
      const rows = await this.#db
        .selectDistinctOn([scheduleRuns.function])
        .from(scheduleRuns)
        .where(inArray(scheduleRuns.function, fns))
        .orderBy(scheduleRuns.function, desc(scheduleRuns.scheduledAt));
      for (const r of rows) out.set(r.function, r);
      return out;
    } catch (err) {
      throw storeError("cannot read the last runs of the schedules", err);
    }
  }
}
