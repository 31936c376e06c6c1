/**
 * Nomad's fingerprint of the exec driver, in Nomad's order and words:
 * not Linux -> undetected; not root -> undetected; no cgroups -> unhealthy;
 * else healthy with `driver.exec` = "1".
 */
import { existsSync, readFileSync } from "node:fs";
import { cgroupProblem, detectCgroups } from "../cgroup/index.ts";
import { INIT_PATH, LIB_PATH } from "../sys/native.ts";
import type { Fingerprint } from "./api.ts";
import { supportedCaps } from "./caps.ts";

export interface FingerprintInputs {
  platform: string;
  uid: number;
  cgroupProblem: string | null;
  nativeBuilt: boolean;
}

function kernelRelease(): string {
  try {
    return readFileSync("/proc/sys/kernel/osrelease", "utf8").trim();
  } catch {
    return "unknown";
  }
}

/** Pure decision, so every branch is testable without changing the host. */
export function decideFingerprint(i: FingerprintInputs): Fingerprint {
  const attributes: Record<string, string> = {};
  if (i.platform !== "linux") {
    return { health: "undetected", description: "exec driver unsupported on client OS", attributes };
  }
  if (i.uid !== 0) return { health: "undetected", description: "Driver must run as root", attributes };
  if (i.cgroupProblem !== null) return { health: "unhealthy", description: i.cgroupProblem, attributes };
  if (!i.nativeBuilt) {
    return {
      health: "unhealthy",
      description: "Bunker's native side is not built: run npm run build:ffi",
      attributes,
    };
  }
  attributes["driver.exec"] = "1";
  return { health: "healthy", description: "Healthy", attributes };
}

export function fingerprint(): Fingerprint {
  const cgroups = process.platform === "linux" ? detectCgroups() : null;
  const fp = decideFingerprint({
    platform: process.platform,
    uid: process.getuid?.() ?? -1,
    cgroupProblem: cgroups ? cgroupProblem(cgroups) : null,
    nativeBuilt: existsSync(LIB_PATH) && existsSync(INIT_PATH),
  });
  fp.attributes["kernel.name"] = process.platform;
  if (cgroups) {
    fp.attributes["kernel.version"] = kernelRelease();
    fp.attributes["driver.exec.cgroup.layout"] = cgroups.layout ?? "none";
    fp.attributes["driver.exec.cgroup.controllers"] = [...cgroups.v1.keys(), ...cgroups.unifiedControllers]
      .sort()
      .join(",");
    fp.attributes["driver.exec.capabilities"] = String(supportedCaps().length);
  }
  return fp;
}
