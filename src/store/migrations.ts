/** Where the committed drizzle migrations live (both drivers migrate from them). */
import { fileURLToPath } from "node:url";

export const MIGRATIONS_FOLDER = fileURLToPath(new URL("../../db/migrations", import.meta.url));
