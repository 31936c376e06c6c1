import { afterAll, describe, expect, test } from "bun:test";
import { driver, shTask } from "./helpers-net.ts";

afterAll(() => driver.drain());

async function running(name: string, extra: Record<string, unknown> = {}) {
  const h = await driver.start(shTask(name, "echo ready > /local/marker; exec sleep 30", extra), {
    stdout: "null",
  });
  // The marker says the task's main process is up.
  for (let i = 0; i < 200; i++) {
    const s = await h.exec("/bin/cat", ["/local/marker"]);
    const [out] = await Promise.all([new Response(s.stdout).text(), s.wait()]);
    if (out === "ready\n") return h;
    await Bun.sleep(10);
  }
  throw new Error("task did not start");
}

describe("alloc exec: a new process inside a running task", () => {
  test("it sees the task's PID namespace, root, hostname, user and capability set", async () => {
    const h = await running("exec-sees");
    const s = await h.exec("/bin/sh", [
      "-c",
      "tr '\\0' ' ' < /proc/1/cmdline; echo; hostname; id -u; grep -E '^(CapEff|CapBnd|NoNewPrivs)' /proc/self/status; ls /local",
    ]);
    const [out, err] = await Promise.all([new Response(s.stdout).text(), new Response(s.stderr!).text()]);
    expect(await s.wait()).toEqual({ exitCode: 0, signal: null });
    const lines = out.trim().split("\n");
    expect(lines[0]).toContain("bunker-init");
    expect(lines[1]).toBe("exec-sees");
    expect(lines[2]).toBe("65534");
    expect(lines).toContain("CapEff:\t0000000000000000");
    expect(lines).toContain("NoNewPrivs:\t1");
    expect(lines.at(-1)).toBe("marker");
    expect(err).toBe("");
    await h.stop({ timeoutMs: 50 });
  }, 15_000);

  test("stdin reaches it and its exit code comes back", async () => {
    const h = await running("exec-stdin");
    const s = await h.exec("/bin/sh", ["-c", "read line; echo got:$line; exit 3"]);
    await s.stdin.write(new TextEncoder().encode("hello\n"));
    await s.stdin.end();
    expect(await new Response(s.stdout).text()).toBe("got:hello\n");
    expect((await s.wait()).exitCode).toBe(3);
    await h.stop({ timeoutMs: 50 });
  }, 15_000);

  test("with a TTY it gets a terminal of the task's own devpts, with the requested size", async () => {
    const h = await running("exec-tty");
    const s = await h.exec("/bin/sh", ["-c", "tty; stty size"], { tty: true, cols: 120, rows: 40 });
    expect(s.stderr).toBeNull();
    const out = await new Response(s.stdout).text();
    expect(out).toMatch(/^\/dev\/pts\/\d+\r\n40 120\r\n$/);
    expect((await s.wait()).exitCode).toBe(0);
    await h.stop({ timeoutMs: 50 });
  }, 15_000);

  test("it runs in the task's cgroup and dies with the task", async () => {
    const h = await running("exec-cgroup");
    const s = await h.exec("/bin/sh", ["-c", "cat /proc/self/cgroup | grep memory; sleep 30"]);
    const reader = s.stdout.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    expect(first).toContain(h.id);
    await h.stop({ timeoutMs: 50 });
    const end = await s.wait();
    expect(end.signal ?? end.exitCode).toBeTruthy();
  }, 15_000);

  test("a missing command is a clear error, and exec after the end is refused", async () => {
    const h = await running("exec-missing");
    await expect(h.exec("nosuchcmd", [])).rejects.toThrow("file nosuchcmd not found");
    await h.stop({ timeoutMs: 50 });
    await expect(h.exec("/bin/true", [])).rejects.toThrow("has ended");
  }, 15_000);

  test("the helper process cannot be ptraced or read by the task", async () => {
    const h = await running("exec-ptrace", { user: "nobody" });
    const s = await h.exec("/bin/sh", [
      "-c",
      "cat /proc/1/environ > /dev/null 2>&1 && echo readable || echo denied",
    ]);
    expect(await new Response(s.stdout).text()).toBe("denied\n");
    await s.wait();
    await h.stop({ timeoutMs: 50 });
  }, 15_000);
});
