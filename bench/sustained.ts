/**
 * Sustained isolated starts of /bin/true for a profiler to watch (bench/profile.sh):
 * `bun bench/sustained.ts SECONDS IN_FLIGHT [cold|spawn]`. Prints starts/s.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parsePluginConfig, parseTask } from "../src/driver/config.ts";
import { createExecDriver } from "../src/driver/exec.ts";

const seconds = Number(process.argv[2] ?? 5);
const inFlight = Number(process.argv[3] ?? 2);
const mode = process.argv[4] ?? "cold";
if (!(seconds > 0) || !Number.isInteger(inFlight) || inFlight < 1 || !["cold", "spawn"].includes(mode)) {
  console.error("usage: bun bench/sustained.ts SECONDS IN_FLIGHT [cold|spawn]");
  process.exit(2);
}
const plugin = parsePluginConfig({});
const dataDir = mkdtempSync(join(tmpdir(), "bunker-sustained-"));
const driver = createExecDriver({ plugin, dataDir });
const spec = parseTask({ name: "sustained", config: { command: "/bin/true" } }, plugin);
const io = { stdin: "null", stdout: "null", stderr: "null" } as const;
let starts = 0;
const end = performance.now() + seconds * 1000;
const t0 = performance.now();
await Promise.all(
  Array.from({ length: inFlight }, async () => {
    while (performance.now() < end) {
      if (mode === "spawn")
        await Bun.spawn(["/bin/true"], { stdin: "ignore", stdout: "ignore", stderr: "ignore" }).exited;
      else await (await driver.start(spec, io)).wait();
      starts++;
    }
  }),
);
await driver.drain();
console.log(
  `${mode}: ${(starts / ((performance.now() - t0) / 1000)).toFixed(0)} starts/s with ${inFlight} in flight`,
);
await driver.close();
rmSync(dataDir, { recursive: true, force: true });
