// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${...} here is Nomad interpolation syntax under test, not a JS template
import { describe, expect, test } from "bun:test";
import { parsePluginConfig } from "../../src/driver/config.ts";
import { fromNomadTask, parseNomadTask } from "../../src/driver/nomad.ts";
import { ValidationError } from "../../src/errors.ts";

const LAST = { lastCap: 40 };
const plugin = parsePluginConfig({}, LAST);

/** Trimmed from `nomad job inspect` output of an exec task. */
const inspected = {
  Name: "server",
  Driver: "exec",
  User: "",
  Lifecycle: null,
  Config: { command: "/bin/http-echo", args: ["-listen", ":${NOMAD_PORT_http}"], pid_mode: "host" },
  Constraints: null,
  Affinities: null,
  Env: { GREETING: "hi" },
  Services: null,
  Resources: {
    CPU: 250,
    Cores: 0,
    MemoryMB: 128,
    MemoryMaxMB: 0,
    DiskMB: 0,
    IOPS: 0,
    Networks: null,
    Devices: null,
    NUMA: null,
  },
  RestartPolicy: { Attempts: 2, Interval: 1800000000000, Delay: 15000000000, Mode: "fail" },
  Meta: { team: "a" },
  KillTimeout: 7_000_000_000,
  LogConfig: { MaxFiles: 10, MaxFileSizeMB: 10, Disabled: false },
  Artifacts: null,
  Vault: null,
  Templates: null,
  DispatchPayload: null,
  VolumeMounts: null,
  Leader: false,
  ShutdownDelay: 0,
  KillSignal: "SIGTERM",
  Kind: "",
  ScalingPolicies: null,
};

function errorOf(fn: () => unknown): ValidationError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return err as ValidationError;
  }
  throw new Error("expected a ValidationError");
}

describe("Nomad Task JSON", () => {
  test("maps to parseTask's input", () => {
    expect(fromNomadTask(inspected)).toEqual({
      name: "server",
      driver: "exec",
      config: { command: "/bin/http-echo", args: ["-listen", ":${NOMAD_PORT_http}"], pid_mode: "host" },
      env: { GREETING: "hi" },
      meta: { team: "a" },
      kill_signal: "SIGTERM",
      kill_timeout: 7000,
      resources: { cpu: 250, memory: 128 },
    });
  });

  test("parses to a TaskSpec with defaults for the zero values", () => {
    expect(parseNomadTask(inspected, plugin, LAST)).toEqual({
      name: "server",
      command: "/bin/http-echo",
      args: ["-listen", ":${NOMAD_PORT_http}"],
      env: { GREETING: "hi" },
      meta: { team: "a" },
      user: "nobody",
      pidMode: "host",
      ipcMode: "private",
      capAdd: [],
      capDrop: [],
      killSignal: "SIGTERM",
      killTimeoutMs: 7000,
      resources: { cpu: 250, memory: 128 },
    });
  });

  test("nulls everywhere mean defaults", () => {
    const spec = parseNomadTask(
      {
        Name: "t",
        Driver: "exec",
        Config: { command: "x" },
        User: null,
        Env: null,
        Meta: null,
        KillTimeout: null,
        KillSignal: "",
        Resources: null,
      },
      plugin,
      LAST,
    );
    expect(spec.killTimeoutMs).toBe(5000);
    expect(spec.killSignal).toBe("SIGINT");
    expect(spec.resources).toEqual({ cpu: 100, memory: 300 });
    expect(spec.user).toBe("nobody");
  });

  test("Cores, MemoryMaxMB and User are carried over", () => {
    const spec = parseNomadTask(
      {
        Driver: "exec",
        Config: { command: "x" },
        User: "app",
        Resources: { CPU: 0, Cores: 2, MemoryMB: 256, MemoryMaxMB: 1024 },
      },
      plugin,
      LAST,
    );
    expect(spec.user).toBe("app");
    expect(spec.resources).toEqual({ cpu: 100, cores: 2, memory: 256, memoryMax: 1024 });
  });

  test("KillTimeout in ns is capped by max_kill_timeout", () => {
    expect(parseNomadTask({ ...inspected, KillTimeout: 120_000_000_000 }, plugin, LAST).killTimeoutMs).toBe(
      30_000,
    );
  });

  test("another driver is refused", () => {
    const err = errorOf(() => fromNomadTask({ ...inspected, Driver: "docker" }));
    expect(err.message).toBe('driver "docker" is not exec');
    expect(err.issues[0]?.path).toBe("/Driver");
    expect(errorOf(() => fromNomadTask({ Config: { command: "x" } })).message).toBe("Missing task driver");
  });

  test("wrong types are reported with API pointers", () => {
    const err = errorOf(() => fromNomadTask({ ...inspected, KillTimeout: "5s" }));
    expect(err.issues[0]?.path).toBe("/KillTimeout");
  });

  test("driver config errors point at the API field names", () => {
    const err = errorOf(() =>
      parseNomadTask(
        { ...inspected, Config: { command: "x", pid_mode: "other" }, Resources: { CPU: 100, MemoryMB: 5 } },
        plugin,
        LAST,
      ),
    );
    expect(err.issues.map((i) => i.path)).toEqual(["/Config/pid_mode"]);
    expect(err.message).toBe('pid_mode must be "private" or "host", got "other"');
    const res = errorOf(() => parseNomadTask({ ...inspected, Resources: { MemoryMB: 5 } }, plugin, LAST));
    expect(res.issues[0]?.path).toBe("/Resources/MemoryMB");
    expect(res.message).toBe("minimum MemoryMB value is 10; got 5");
  });
});
