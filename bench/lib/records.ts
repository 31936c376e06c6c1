/** Cleanup for benchmarks that write records into a possibly shared database. */
import { eq, inArray } from "drizzle-orm";
import { invocations, spans } from "../../db/schema.ts";
import type { Db } from "../../src/store/db.ts";

/**
 * Deletes the invocations a run recorded under `node`, with their spans
 * (usage follows by cascade). Left behind, a run's rows would grow a shared
 * database run after run, and every later run would insert into bigger
 * indexes than the one before.
 */
export async function deleteRecordsOf(db: Db, node: string): Promise<void> {
  const own = db.select({ id: invocations.id }).from(invocations).where(eq(invocations.node, node));
  await db.delete(spans).where(inArray(spans.invocationId, own));
  await db.delete(invocations).where(eq(invocations.node, node));
}
