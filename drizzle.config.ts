import { defineConfig } from "drizzle-kit";

// Generation only: `npx drizzle-kit generate` diffs db/schema.ts against the
// committed snapshots. Migrations are applied by the server at start-up
// (src/store/db.ts), never by drizzle-kit, so no credentials live here.
export default defineConfig({
  dialect: "postgresql",
  schema: "./db/schema.ts",
  out: "./db/migrations",
});
