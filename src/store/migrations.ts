/** Where the committed drizzle migrations live, and the lock every server migrating a database queues on. */
import { fileURLToPath } from "node:url";

export const MIGRATIONS_FOLDER = fileURLToPath(new URL("../../db/migrations", import.meta.url));

/**
 * Arbitrary but fixed key for pg_advisory_lock: every Bunker server migrating
 * the same database queues on it, so two servers starting together apply each
 * migration once instead of racing on CREATE TABLE.
 */
export const MIGRATION_LOCK_KEY = 0x42_75_6e_6b; // "Bunk"
