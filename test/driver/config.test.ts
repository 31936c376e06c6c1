// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${...} here is Nomad interpolation syntax under test, not a JS template
import { describe, expect, test } from "bun:test";
import {
  DEFAULT_CHROOT_ENV,
  parseDuration,
  parsePluginConfig,
  parseTask,
  pluginConfigJsonSchema,
  taskJsonSchema,
} from "../../src/driver/config.ts";
import { ValidationError } from "../../src/errors.ts";

const LAST = { lastCap: 40 };
const plugin = parsePluginConfig({}, LAST);

function errorOf(fn: () => unknown): ValidationError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return err as ValidationError;
  }
  throw new Error("expected a ValidationError");
}

function task(extra: Record<string, unknown> = {}, config: Record<string, unknown> = {}) {
  return { config: { command: "/bin/true", ...config }, ...extra };
}

describe("parseDuration", () => {
  test.each([
    ["5s", 5000],
    ["1m30s", 90_000],
    ["250ms", 250],
    ["1.5h", 5_400_000],
    ["1h2m3s", 3_723_000],
    ["0", 0],
    ["1500us", 2],
    ["2000000ns", 2],
    [".5s", 500],
    [1234, 1234],
    [0, 0],
  ] as const)("%p -> %p ms", (input, ms) => {
    expect(parseDuration(input, "kill_timeout")).toBe(ms);
  });

  test.each(["5", "-5s", "5 s", "s", "1d", "", "5sec", -1, Number.NaN, Number.POSITIVE_INFINITY])(
    "invalid %p",
    (v) => {
      const err = errorOf(() => parseDuration(v, "kill_timeout"));
      expect(err.message).toStartWith("kill_timeout: invalid duration");
      expect(err.issues[0]?.path).toBe("/kill_timeout");
    },
  );
});

describe("plugin config", () => {
  test("Nomad's defaults", () => {
    expect(plugin).toEqual({
      defaultPidMode: "private",
      defaultIpcMode: "private",
      noPivotRoot: false,
      allowCaps: [
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
      ],
      chrootEnv: { ...DEFAULT_CHROOT_ENV },
      deniedHostUids: "",
      deniedHostGids: "",
      maxKillTimeoutMs: 30_000,
      chrootMode: "bind",
      allowRoot: false,
    });
    expect(Object.keys(plugin.chrootEnv).sort()).toEqual([
      "/bin",
      "/etc",
      "/lib",
      "/lib32",
      "/lib64",
      "/run/resolvconf",
      "/run/systemd/resolve",
      "/sbin",
      "/usr",
    ]);
    expect(parsePluginConfig(undefined, LAST)).toEqual(plugin);
  });

  test("defaults are fresh objects each time", () => {
    const a = parsePluginConfig({}, LAST);
    a.chrootEnv["/opt"] = "/opt";
    expect(parsePluginConfig({}, LAST).chrootEnv["/opt"]).toBeUndefined();
  });

  test("every option", () => {
    const c = parsePluginConfig(
      {
        default_pid_mode: "host",
        default_ipc_mode: "host",
        no_pivot_root: true,
        allow_caps: ["CAP_NET_RAW", "chown"],
        chroot_env: { "/opt/rootfs/usr": "/usr" },
        denied_host_uids: "0,10-15",
        denied_host_gids: "0",
        max_kill_timeout: "1m",
        chroot_mode: "link",
        allow_root: true,
      },
      LAST,
    );
    expect(c).toEqual({
      defaultPidMode: "host",
      defaultIpcMode: "host",
      noPivotRoot: true,
      allowCaps: ["CHOWN", "NET_RAW"],
      chrootEnv: { "/opt/rootfs/usr": "/usr" },
      deniedHostUids: "0,10-15",
      deniedHostGids: "0",
      maxKillTimeoutMs: 60_000,
      chrootMode: "link",
      allowRoot: true,
    });
  });

  test("empty mode strings fall back to private", () => {
    const c = parsePluginConfig({ default_pid_mode: "", default_ipc_mode: "" }, LAST);
    expect(c.defaultPidMode).toBe("private");
    expect(c.defaultIpcMode).toBe("private");
  });

  test("allow_caps all, as a string or in a list", () => {
    expect(parsePluginConfig({ allow_caps: "all" }, LAST).allowCaps).toBe("all");
    expect(parsePluginConfig({ allow_caps: ["ALL"] }, LAST).allowCaps).toBe("all");
    expect(parsePluginConfig({ allow_caps: [] }, LAST).allowCaps).toEqual([]);
  });

  test.each([
    [
      { default_pid_mode: "other" },
      'default_pid_mode must be "private" or "host", got "other"',
      "/default_pid_mode",
    ],
    [
      { default_ipc_mode: "other" },
      'default_ipc_mode must be "private" or "host", got "other"',
      "/default_ipc_mode",
    ],
    [
      { allow_caps: ["chown", "not_valid", "sys_time"] },
      "allow_caps configured with capabilities not supported by system: not_valid",
      "/allow_caps",
    ],
    [
      { chroot_mode: "overlay" },
      'chroot_mode must be "bind", "link" or "copy", got "overlay"',
      "/chroot_mode",
    ],
    [{ denied_host_uids: "x" }, 'denied_host_uids: invalid id range "x"', "/denied_host_uids"],
    [{ denied_host_gids: "3-1" }, 'denied_host_gids: invalid id range "3-1"', "/denied_host_gids"],
    [{ max_kill_timeout: "forever" }, "max_kill_timeout: invalid duration", "/max_kill_timeout"],
    [
      { chroot_env: { usr: "/usr" } },
      'chroot_env host path must be absolute without "..", got "usr"',
      "/chroot_env/usr",
    ],
    [{ chroot_env: { "/usr": "/a/../b" } }, "chroot_env task path must be absolute", "/chroot_env/~1usr"],
    [
      { chroot_env: { "/srv": "/" } },
      'chroot_env cannot map "/srv" over the task root "/"',
      "/chroot_env/~1srv",
    ],
    [{ no_pivot_root: "yes" }, "", "/no_pivot_root"],
    [{ nope: 1 }, 'unsupported argument: an argument named "nope" is not expected here', "/nope"],
  ] as const)("invalid %j", (input, message, path) => {
    const err = errorOf(() => parsePluginConfig(input, LAST));
    expect(err.message).toStartWith(message);
    expect(err.issues[0]?.path).toBe(path);
  });

  test("a kernel without a cap makes it unsupported", () => {
    expect(errorOf(() => parsePluginConfig({ allow_caps: ["bpf"] }, { lastCap: 37 })).message).toBe(
      "allow_caps configured with capabilities not supported by system: bpf",
    );
  });

  test("all problems are reported together", () => {
    const err = errorOf(() => parsePluginConfig({ max_kill_timeout: "x", denied_host_uids: "y" }, LAST));
    expect(err.issues.map((i) => i.path)).toEqual(["/max_kill_timeout", "/denied_host_uids"]);
    expect(err.message).toContain("; ");
  });
});

describe("task", () => {
  test("defaults", () => {
    expect(parseTask(task(), plugin, LAST)).toEqual({
      name: "task",
      command: "/bin/true",
      args: [],
      env: {},
      meta: {},
      user: "nobody",
      pidMode: "private",
      ipcMode: "private",
      capAdd: [],
      capDrop: [],
      killSignal: "SIGINT",
      killTimeoutMs: 5000,
      resources: { cpu: 100, memory: 300 },
    });
  });

  test("every field", () => {
    const spec = parseTask(
      {
        name: "web",
        driver: "exec",
        config: {
          command: "server",
          args: ["--port", "${NOMAD_PORT_http}"],
          pid_mode: "host",
          ipc_mode: "host",
          cap_add: ["cap_net_bind_service"],
          cap_drop: ["ALL"],
          work_dir: "/local",
        },
        user: "app",
        env: { A: "1" },
        meta: { k: "v" },
        kill_signal: "term",
        kill_timeout: "10s",
        resources: { cpu: 500, memory: 256, memory_max: 512, pids: 64 },
        timeout: "1m",
      },
      plugin,
      LAST,
    );
    expect(spec).toEqual({
      name: "web",
      command: "server",
      args: ["--port", "${NOMAD_PORT_http}"],
      env: { A: "1" },
      meta: { k: "v" },
      user: "app",
      pidMode: "host",
      ipcMode: "host",
      capAdd: ["NET_BIND_SERVICE"],
      capDrop: ["all"],
      workDir: "/local",
      killSignal: "SIGTERM",
      killTimeoutMs: 10_000,
      timeoutMs: 60_000,
      resources: { cpu: 500, memory: 256, memoryMax: 512, pids: 64 },
    });
  });

  test("task modes fall back to the plugin's defaults", () => {
    const hostPlugin = parsePluginConfig({ default_pid_mode: "host", default_ipc_mode: "host" }, LAST);
    const spec = parseTask(task({}, { pid_mode: "", ipc_mode: "private" }), hostPlugin, LAST);
    expect(spec.pidMode).toBe("host");
    expect(spec.ipcMode).toBe("private");
  });

  test("kill_timeout is capped by max_kill_timeout; numbers are milliseconds", () => {
    expect(parseTask(task({ kill_timeout: "2m" }), plugin, LAST).killTimeoutMs).toBe(30_000);
    expect(parseTask(task({ kill_timeout: 750 }), plugin, LAST).killTimeoutMs).toBe(750);
    const strict = parsePluginConfig({ max_kill_timeout: "1s" }, LAST);
    expect(parseTask(task(), strict, LAST).killTimeoutMs).toBe(1000);
  });

  test("cores without cpu keeps the default cpu", () => {
    expect(parseTask(task({ resources: { cores: 2 } }), plugin, LAST).resources).toEqual({
      cpu: 100,
      memory: 300,
      cores: 2,
    });
  });

  test("root needs allow_root", () => {
    expect(errorOf(() => parseTask(task({ user: "root" }), plugin, LAST)).issues[0]?.path).toBe("/user");
    expect(errorOf(() => parseTask(task({ user: "0" }), plugin, LAST)).message).toContain("allow_root");
    const rootOk = parsePluginConfig({ allow_root: true }, LAST);
    expect(parseTask(task({ user: "root" }), rootOk, LAST).user).toBe("root");
  });

  test("cap_add must be allowed by the plugin", () => {
    const err = errorOf(() => parseTask(task({}, { cap_add: ["net_raw", "sys_admin"] }), plugin, LAST));
    expect(err.message).toBe("driver does not allow the following capabilities: net_raw, sys_admin");
    expect(err.issues[0]?.path).toBe("/config/cap_add");
    const all = parsePluginConfig({ allow_caps: ["all"] }, LAST);
    expect(parseTask(task({}, { cap_add: ["net_raw"] }), all, LAST).capAdd).toEqual(["NET_RAW"]);
  });

  test.each([
    [{}, { pid_mode: "other" }, 'pid_mode must be "private" or "host", got "other"', "/config/pid_mode"],
    [{}, { ipc_mode: "other" }, 'ipc_mode must be "private" or "host", got "other"', "/config/ipc_mode"],
    [
      {},
      { work_dir: "local" },
      'work_dir must be absolute but got relative path "local"',
      "/config/work_dir",
    ],
    [
      {},
      { cap_add: ["bogus"] },
      "cap_add configured with capabilities not supported by system: bogus",
      "/config/cap_add",
    ],
    [
      {},
      { cap_drop: ["bogus"] },
      "cap_drop configured with capabilities not supported by system: bogus",
      "/config/cap_drop",
    ],
    [{}, { command: "" }, 'the argument "command" is required', "/config/command"],
    [{}, { command: undefined }, 'the argument "command" is required', "/config/command"],
    [{}, { command: "a\0b" }, "command contains a NUL byte", "/config/command"],
    [{}, { args: ["ok", "x\0"] }, "argument contains a NUL byte", "/config/args/1"],
    [
      {},
      { image: "x" },
      'unsupported argument: an argument named "image" is not expected here',
      "/config/image",
    ],
    [{ kill_signal: "SIGFOO" }, {}, 'unknown signal "SIGFOO"', "/kill_signal"],
    [{ kill_timeout: "5" }, {}, "kill_timeout: invalid duration", "/kill_timeout"],
    [{ timeout: "0s" }, {}, "timeout must be greater than 0", "/timeout"],
    [{ timeout: "soon" }, {}, "timeout: invalid duration", "/timeout"],
    [{ driver: "docker" }, {}, 'driver "docker" is not exec', "/driver"],
    [{ env: { "A=B": "x" } }, {}, 'invalid environment variable "A=B"', "/env/A=B"],
    [{ env: { "": "x" } }, {}, 'invalid environment variable ""', "/env/"],
    [{ env: { A: 1 } }, {}, "", "/env/A"],
    [{ resources: { cpu: 0 } }, {}, "minimum CPU value is 1; got 0", "/resources/cpu"],
    [{ resources: { memory: 5 } }, {}, "minimum MemoryMB value is 10; got 5", "/resources/memory"],
    [
      { resources: { memory: 512, memory_max: 256 } },
      {},
      "MemoryMaxMB value (256) should be larger than MemoryMB value (512)",
      "/resources/memory_max",
    ],
    [
      { resources: { cpu: 200, cores: 1 } },
      {},
      "Task can only ask for 'cpu' or 'cores' resource, not both.",
      "/resources/cores",
    ],
    [{ resources: { pids: 0 } }, {}, "", "/resources/pids"],
    [{ resources: { memory: 1.5 } }, {}, "", "/resources/memory"],
    [{ resources: { disk: 1 } }, {}, "unsupported argument", "/resources/disk"],
    [{ name: "" }, {}, "", "/name"],
  ] as const)("invalid task %j %j", (extra, config, message, path) => {
    const err = errorOf(() => parseTask(task(extra, config), plugin, LAST));
    expect(err.message).toStartWith(message);
    expect(err.issues[0]?.path).toBe(path);
  });

  test("a missing config block", () => {
    expect(errorOf(() => parseTask({}, plugin, LAST)).issues[0]?.path).toBe("/config");
  });

  test("independent problems are all reported", () => {
    const err = errorOf(() =>
      parseTask(task({ kill_signal: "nope", timeout: "x" }, { work_dir: "rel" }), plugin, LAST),
    );
    expect(err.issues.map((i) => i.path).sort()).toEqual(["/config/work_dir", "/kill_signal", "/timeout"]);
  });
});

describe("JSON Schema", () => {
  test("task schema names Nomad's fields and requires command", () => {
    const s = taskJsonSchema() as {
      properties: Record<string, { properties?: Record<string, unknown>; required?: string[] }>;
      required?: string[];
      additionalProperties?: boolean;
    };
    expect(s.required).toEqual(["config"]);
    expect(s.additionalProperties).toBe(false);
    expect(Object.keys(s.properties.config?.properties ?? {})).toEqual([
      "command",
      "args",
      "pid_mode",
      "ipc_mode",
      "cap_add",
      "cap_drop",
      "work_dir",
    ]);
    expect(s.properties.config?.required).toEqual(["command"]);
    expect(s.properties).toHaveProperty("kill_timeout");
    expect(s.properties).toHaveProperty("resources");
  });

  test("plugin schema carries the defaults", () => {
    const s = pluginConfigJsonSchema() as { properties: Record<string, { default?: unknown }> };
    expect(s.properties.default_pid_mode?.default).toBe("private");
    expect(s.properties.max_kill_timeout?.default).toBe("30s");
    expect(s.properties.chroot_mode?.default).toBe("bind");
    expect(s.properties.chroot_env?.default).toEqual({ ...DEFAULT_CHROOT_ENV });
  });
});
