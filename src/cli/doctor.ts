/** `bunker doctor`: the driver's fingerprint and what it rests on, for a human. */
import { readFileSync } from "node:fs";
import { detectCgroups } from "../cgroup/index.ts";
import type { Config } from "../config.ts";
import { capLastCap, supportedCaps } from "../driver/caps.ts";
import { fingerprint } from "../driver/fingerprint.ts";

function cgroupFavorsDynmods(mount: string | null): boolean {
  if (mount === null) return false;
  const line = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .find((l) => l.split(" ")[4] === mount);
  return line?.includes("favordynmods") ?? false;
}

export function doctor(_config: Config, out: (line: string) => void = console.log): number {
  const fp = fingerprint();
  const cg = detectCgroups();
  out(`driver.exec        ${fp.attributes["driver.exec"] ?? "0"}`);
  out(`health             ${fp.health}: ${fp.description}`);
  out(`kernel             ${fp.attributes["kernel.version"] ?? process.platform}`);
  out(`cgroup layout      ${cg.layout ?? "none"}`);
  out(`cgroup v1          ${[...cg.v1.keys()].sort().join(", ") || "-"}`);
  out(`cgroup v2          ${cg.unified ?? "-"} (controllers: ${cg.unifiedControllers.join(", ") || "none"})`);
  out(`missing            ${cg.missing.join(", ") || "-"}`);
  out(
    `favordynmods       ${cgroupFavorsDynmods(cg.unified) ? "on" : "off"} (bunker turns it on at first start on v1/hybrid)`,
  );
  out(`capabilities       ${supportedCaps().length} supported (cap_last_cap ${capLastCap()})`);
  return fp.health === "healthy" ? 0 : 1;
}
