import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CAPABILITIES,
  capLastCap,
  capName,
  capSets,
  capsToMask,
  computeCaps,
  maskToCaps,
  NOMAD_DEFAULT_CAPS,
  normalizeCap,
  parseCapList,
  supportedCaps,
} from "../../src/driver/caps.ts";
import { ValidationError } from "../../src/errors.ts";

function errorOf(fn: () => unknown): ValidationError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return err as ValidationError;
  }
  throw new Error("expected a ValidationError");
}

const DEFAULTS = NOMAD_DEFAULT_CAPS.map((c) => c.slice(4).toLowerCase());

describe("capability table", () => {
  test("numbers match <linux/capability.h>", () => {
    expect(CAPABILITIES.CAP_CHOWN).toBe(0);
    expect(CAPABILITIES.CAP_NET_RAW).toBe(13);
    expect(CAPABILITIES.CAP_SYS_ADMIN).toBe(21);
    expect(CAPABILITIES.CAP_SETFCAP).toBe(31);
    expect(CAPABILITIES.CAP_CHECKPOINT_RESTORE).toBe(40);
    expect(Object.keys(CAPABILITIES)).toHaveLength(41);
    expect(new Set(Object.values(CAPABILITIES)).size).toBe(41);
  });

  test("capName is the inverse", () => {
    expect(capName(21)).toBe("CAP_SYS_ADMIN");
    expect(capName(41)).toBeUndefined();
  });

  test("names are case-insensitive with an optional CAP_ prefix", () => {
    expect(normalizeCap("chown")).toBe("CAP_CHOWN");
    expect(normalizeCap("CAP_CHOWN")).toBe("CAP_CHOWN");
    expect(normalizeCap("cap_Sys_Admin")).toBe("CAP_SYS_ADMIN");
    expect(normalizeCap(" net_raw ")).toBe("CAP_NET_RAW");
    expect(normalizeCap("not_valid")).toBeUndefined();
    expect(normalizeCap("toString")).toBeUndefined();
  });

  test("Nomad's default list is Docker's minus NET_RAW", () => {
    expect([...NOMAD_DEFAULT_CAPS].sort()).toEqual([
      "CAP_AUDIT_WRITE",
      "CAP_CHOWN",
      "CAP_DAC_OVERRIDE",
      "CAP_FOWNER",
      "CAP_FSETID",
      "CAP_KILL",
      "CAP_MKNOD",
      "CAP_NET_BIND_SERVICE",
      "CAP_SETFCAP",
      "CAP_SETGID",
      "CAP_SETPCAP",
      "CAP_SETUID",
      "CAP_SYS_CHROOT",
    ]);
  });
});

describe("supportedCaps", () => {
  test("reads cap_last_cap", () => {
    const dir = mkdtempSync(join(tmpdir(), "caps-"));
    writeFileSync(join(dir, "last"), "37\n");
    expect(capLastCap(join(dir, "last"))).toBe(37);
    expect(capLastCap(join(dir, "missing"))).toBe(40);
  });

  test("stops at the kernel's last cap", () => {
    const s = supportedCaps(37);
    expect(s).toHaveLength(38);
    expect(s.at(-1)).toBe("CAP_AUDIT_READ");
    expect(s).not.toContain("CAP_BPF");
    expect(supportedCaps(99)).toHaveLength(41);
  });
});

describe("parseCapList", () => {
  test("unknown names fail with Nomad's text, lower case, sorted", () => {
    const err = errorOf(() => parseCapList("allow_caps", ["chown", "zzz", "not_valid", "sys_time"], 40));
    expect(err.message).toBe(
      "allow_caps configured with capabilities not supported by system: not_valid, zzz",
    );
    expect(err.issues[0]?.path).toBe("/allow_caps");
  });

  test("a name the kernel lacks counts as unsupported", () => {
    const err = errorOf(() => parseCapList("cap_add", ["bpf"], 37));
    expect(err.message).toBe("cap_add configured with capabilities not supported by system: bpf");
  });

  test("all expands to the supported set", () => {
    expect(parseCapList("allow_caps", ["all"], 40).size).toBe(41);
    expect(parseCapList("allow_caps", ["ALL"], 30).size).toBe(31);
  });
});

describe("computeCaps", () => {
  test("defaults when allow_caps is the default", () => {
    const r = computeCaps({ allowCaps: DEFAULTS, lastCap: 40 });
    expect(r.names).toEqual([...NOMAD_DEFAULT_CAPS].sort());
    expect(r.mask).toBe(capsToMask(NOMAD_DEFAULT_CAPS));
  });

  test("allow all gives the defaults, not every cap", () => {
    const r = computeCaps({ allowCaps: "all", lastCap: 40 });
    expect(r.names).toEqual([...NOMAD_DEFAULT_CAPS].sort());
  });

  test("allow selection intersects with the defaults", () => {
    const r = computeCaps({ allowCaps: ["cap_net_raw", "chown", "SYS_TIME"], lastCap: 40 });
    expect(r.names).toEqual(["CAP_CHOWN"]);
    expect(r.mask).toBe(1n);
  });

  test("allowed adds are granted", () => {
    const r = computeCaps({
      allowCaps: ["cap_net_raw", "chown", "SYS_TIME"],
      capAdd: ["net_raw", "sys_time"],
      lastCap: 40,
    });
    expect(r.names).toEqual(["CAP_CHOWN", "CAP_NET_RAW", "CAP_SYS_TIME"]);
    expect(r.mask).toBe((1n << 0n) | (1n << 13n) | (1n << 25n));
  });

  test("cap_add outside allow_caps is refused with Nomad's text", () => {
    const err = errorOf(() =>
      computeCaps({ allowCaps: DEFAULTS, capAdd: ["chown", "sys_admin", "NET_RAW"], lastCap: 40 }),
    );
    expect(err.message).toBe("driver does not allow the following capabilities: net_raw, sys_admin");
    expect(err.issues[0]?.path).toBe("/config/cap_add");
  });

  test("unknown cap_add/cap_drop names are refused before the allow check", () => {
    expect(errorOf(() => computeCaps({ allowCaps: DEFAULTS, capAdd: ["bogus"], lastCap: 40 })).message).toBe(
      "cap_add configured with capabilities not supported by system: bogus",
    );
    expect(errorOf(() => computeCaps({ allowCaps: DEFAULTS, capDrop: ["bogus"], lastCap: 40 })).message).toBe(
      "cap_drop configured with capabilities not supported by system: bogus",
    );
    expect(errorOf(() => computeCaps({ allowCaps: ["bogus"], lastCap: 40 })).message).toBe(
      "allow_caps configured with capabilities not supported by system: bogus",
    );
  });

  test("drop some", () => {
    const r = computeCaps({
      allowCaps: DEFAULTS,
      capDrop: ["chown", "fowner", "CAP_KILL", "SYS_CHROOT", "mknod", "dac_override"],
      lastCap: 40,
    });
    expect(r.names).toEqual([
      "CAP_AUDIT_WRITE",
      "CAP_FSETID",
      "CAP_NET_BIND_SERVICE",
      "CAP_SETFCAP",
      "CAP_SETGID",
      "CAP_SETPCAP",
      "CAP_SETUID",
    ]);
  });

  test("drop all, then add some back (add wins over drop)", () => {
    expect(computeCaps({ allowCaps: DEFAULTS, capDrop: ["all"], lastCap: 40 })).toEqual({
      mask: 0n,
      names: [],
    });
    const r = computeCaps({
      allowCaps: DEFAULTS,
      capDrop: ["all"],
      capAdd: ["chown", "fowner"],
      lastCap: 40,
    });
    expect(r.names).toEqual(["CAP_CHOWN", "CAP_FOWNER"]);
    expect(r.mask).toBe(0b1001n);
  });

  test("redundant adds change nothing", () => {
    const r = computeCaps({ allowCaps: DEFAULTS, capAdd: ["chown", "KILL"], lastCap: 40 });
    expect(r.names).toEqual([...NOMAD_DEFAULT_CAPS].sort());
  });

  test("caps above bit 31 survive the 64-bit mask", () => {
    const r = computeCaps({
      allowCaps: "all",
      capAdd: ["checkpoint_restore"],
      capDrop: ["all"],
      lastCap: 40,
    });
    expect(r.mask).toBe(1n << 40n);
    expect(maskToCaps(r.mask)).toEqual(["CAP_CHECKPOINT_RESTORE"]);
  });
});

describe("capSets", () => {
  const mask = capsToMask(["CAP_CHOWN", "CAP_KILL"]);

  test("non-root: the mask is also inheritable and ambient so it survives execve", () => {
    expect(capSets(mask, false)).toEqual({
      effective: mask,
      permitted: mask,
      inheritable: mask,
      bounding: mask,
      ambient: mask,
    });
  });

  test("root: no ambient, no inheritable", () => {
    expect(capSets(mask, true)).toEqual({
      effective: mask,
      permitted: mask,
      inheritable: 0n,
      bounding: mask,
      ambient: 0n,
    });
  });
});
