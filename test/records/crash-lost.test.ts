/**
 * Crash consistency: a synchronous invocation accepted by a server that is
 * SIGKILLed mid-run is recorded as lost when that server starts again.
 */
import { afterAll, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { invocations } from "../../db/schema.ts";
import { openDatabase } from "../../src/store/db.ts";
import { createScratchDatabase, removeTempDirs, tempDir, waitFor } from "../store/helpers.ts";
import {
  functionsDir,
  removeDataDirs,
  type ServeProcess,
  dataDir as serverDataDir,
  startServe,
} from "./helpers.ts";

afterAll(() => {
  removeDataDirs();
  removeTempDirs();
});

const root = process.getuid?.() === 0;
if (!root) console.log("skip crash-lost.test.ts: the exec driver needs root to run tasks");

test.skipIf(!root)(
  "a sync invocation running when the server is SIGKILLed is recorded as lost at the next start",
  async () => {
    const scratch = await createScratchDatabase();
    const fns = functionsDir({ "crash-slow": { command: "/bin/sleep", args: ["30"], timeout: "60s" } });
    const dataDir = serverDataDir("crash-node");
    const servers: ServeProcess[] = [];
    const database = await openDatabase({ url: scratch.url, dataDir: tempDir("crash-reader") });
    try {
      const first = await startServe({ functions: fns, databaseUrl: scratch.url, dataDir });
      servers.push(first);
      const call = fetch(`${first.url}/function/crash-slow`).catch(() => null);
      const running = async () =>
        (await database.db.select().from(invocations).where(eq(invocations.function, "crash-slow")))[0];
      await waitFor(
        "the running invocation to be recorded",
        async () => (await running())?.state === "running",
      );
      const id = (await running())?.id ?? "";
      await first.kill("SIGKILL");
      await call;

      const second = await startServe({ functions: fns, databaseUrl: scratch.url, dataDir });
      servers.push(second);
      const [row] = await database.db.select().from(invocations).where(eq(invocations.id, id));
      expect(row?.state).toBe("lost");
      expect(row?.reason).toBe("lost");
      expect(row?.finishedAt).not.toBeNull();
      expect(second.output()).toContain("as lost");
      const api = (await (await fetch(`${second.url}/system/invocations/${id}`)).json()) as {
        status: string;
        error: string;
      };
      expect(api.status).toBe("error");
      expect(api.error).toContain("lost");
    } finally {
      for (const s of servers) await s.kill("SIGKILL");
      await database.close();
      await scratch.drop();
    }
  },
  120_000,
);
