/**
 * Retention: finished records older than a configured age are removed in
 * batched deletes, each batch its own short statement so a large backlog
 * never holds long locks or one huge transaction.
 *
 * Why not time-partitioned tables: the same schema must run on embedded
 * PGlite, where a partition per day would mean DDL at run time (creating
 * and dropping partitions) that drizzle-kit's generated migrations do not
 * model, and declarative partitioning also forces the partition key into
 * every primary key (invocations.id would become (id, queued_at), breaking
 * the foreign keys of usage and jobs). At Bunker's volumes a batched delete
 * on the queued_at index is cheap; partitions can come later for Postgres
 * only if deletes ever show up in profiles.
 */
import { and, inArray, lt } from "drizzle-orm";
import { invocations, spans } from "../../db/schema.ts";
import type { Db } from "./db.ts";
import { storeError } from "./errors.ts";
import { TERMINAL_STATES } from "./records.ts";

export interface RetentionOptions {
  /** Records whose invocation was queued more than this long ago go. */
  maxAgeMs: number;
  /** Rows per delete statement (default 1,000). */
  batchSize?: number;
  /** The clock, for tests. */
  now?: Date;
}

export interface RetentionResult {
  invocations: number;
  spans: number;
  batches: number;
}

/**
 * Deletes finished invocations older than the cut-off (usage and jobs follow
 * by ON DELETE CASCADE) and spans older than it (spans have no foreign key:
 * gateway spans may belong to no invocation). Unfinished invocations are
 * never removed, however old: they are either running or waiting for markLost.
 */
export async function applyRetention(db: Db, options: RetentionOptions): Promise<RetentionResult> {
  const batchSize = Math.max(1, options.batchSize ?? 1_000);
  const cutoff = new Date((options.now ?? new Date()).getTime() - options.maxAgeMs);
  const cutoffNs = BigInt(cutoff.getTime()) * 1_000_000n;
  const result: RetentionResult = { invocations: 0, spans: 0, batches: 0 };
  try {
    for (;;) {
      const old = db
        .select({ id: invocations.id })
        .from(invocations)
        .where(and(lt(invocations.queuedAt, cutoff), inArray(invocations.state, [...TERMINAL_STATES])))
        .limit(batchSize);
      const gone = await db
        .delete(invocations)
        .where(inArray(invocations.id, old))
        .returning({ id: invocations.id });
      result.batches += 1;
      result.invocations += gone.length;
      if (gone.length < batchSize) break;
    }
    for (;;) {
      const old = db
        .select({ id: spans.spanId })
        .from(spans)
        .where(lt(spans.endNs, cutoffNs))
        .limit(batchSize);
      const gone = await db.delete(spans).where(inArray(spans.spanId, old)).returning({ id: spans.spanId });
      result.batches += 1;
      result.spans += gone.length;
      if (gone.length < batchSize) break;
    }
  } catch (err) {
    throw storeError("cannot apply retention", err);
  }
  return result;
}

/** Runs applyRetention every `everyMs` (default hourly) until stopped; errors go to `onError`. */
export function scheduleRetention(
  db: Db,
  options: RetentionOptions & { everyMs?: number; onError?: (err: unknown) => void },
): { stop(): Promise<void> } {
  let running: Promise<unknown> = Promise.resolve();
  const tick = () => {
    running = applyRetention(db, options).catch((err: unknown) => options.onError?.(err));
  };
  const timer = setInterval(tick, options.everyMs ?? 3_600_000);
  timer.unref?.();
  tick();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}

/** Parses "7d", "12h", "30m", "45s" or plain milliseconds. */
export function parseAge(text: string): number {
  const m = /^(\d+)\s*(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m) throw new Error(`not a duration: ${JSON.stringify(text)} (use e.g. 7d, 12h, 30m)`);
  const n = Number(m[1]);
  const unit = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] ?? "ms"] ?? 1;
  return n * unit;
}
