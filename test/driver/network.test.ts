import { afterAll, describe, expect, test } from "bun:test";
import { readlinkSync } from "node:fs";
import { parseTask } from "../../src/driver/config.ts";
import { driver, plugin, runTask } from "./helpers-net.ts";

afterAll(() => driver.drain());

const hostNet = readlinkSync("/proc/self/ns/net");

describe("network modes", () => {
  test("host (the default) shares the host's network namespace", async () => {
    const r = await runTask("net-host", "readlink /proc/self/ns/net");
    expect(r.stdout.trim()).toBe(hostNet);
  });

  test("none: a namespace of its own with only loopback, and it is up", async () => {
    const r = await runTask(
      "net-none",
      "readlink /proc/self/ns/net; tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '; cat /sys/class/net/lo/operstate /sys/class/net/lo/flags",
      { network: { mode: "none" } },
    );
    const [ns, ifaces, , flags] = r.stdout.trim().split("\n");
    expect(ns).not.toBe(hostNet);
    expect(ifaces).toBe("lo");
    expect(Number(flags) & 1).toBe(1); // IFF_UP
  });

  test("isolated modes get their own resolv.conf and hosts, never the host's", async () => {
    const r = await runTask(
      "net-dns",
      "cat /etc/resolv.conf; echo ---; cat /etc/hosts; echo > /etc/resolv.conf",
      {
        network: {
          mode: "none",
          dns: { servers: ["192.0.2.53"], searches: ["example.internal"], options: ["ndots:2"] },
        },
      },
    );
    const [resolv, hosts] = r.stdout.split("---\n");
    expect(resolv).toBe("nameserver 192.0.2.53\nsearch example.internal\noptions ndots:2\n");
    expect(hosts).toContain("127.0.0.1\tlocalhost");
    expect(hosts).toContain("net-dns");
    expect(r.stderr).toContain("Read-only file system");
  });

  test("group: tasks of one group share a namespace; another group gets another one", async () => {
    const script = "readlink /proc/self/ns/net; sleep 0.3";
    const start = (name: string, group: string) =>
      driver.start(
        parseTask(
          { name, config: { command: "/bin/sh", args: ["-c", script] }, network: { mode: "group", group } },
          plugin,
        ),
        {
          stdout: "pipe",
        },
      );
    const [a1, a2, b] = await Promise.all([
      start("ga1", "alpha"),
      start("ga2", "alpha"),
      start("gb", "beta"),
    ]);
    const [na1, na2, nb] = await Promise.all([a1, a2, b].map((h) => new Response(h.stdout).text()));
    await Promise.all([a1.wait(), a2.wait(), b.wait()]);
    expect(na1).toBe(na2!);
    expect(na1).not.toBe(nb!);
    expect(na1!.trim()).not.toBe(hostNet);
  });

  test("a group's loopback service is reachable within the group and not from another group", async () => {
    // perl is on the host's /usr: a one-shot TCP listener on 127.0.0.1:7777.
    const listen =
      "perl -MIO::Socket::INET -e '$s=IO::Socket::INET->new(LocalAddr=>q(127.0.0.1:7777),Listen=>1,ReuseAddr=>1) or die; $c=$s->accept; print $c qq(pong\\n); close $c'";
    const server = await driver.start(
      parseTask(
        {
          name: "srv",
          config: { command: "/bin/sh", args: ["-c", listen] },
          network: { mode: "group", group: "svc" },
          timeout: "10s",
        },
        plugin,
      ),
      { stdout: "pipe" },
    );
    await Bun.sleep(300);
    const probe =
      "perl -MIO::Socket::INET -e '$c=IO::Socket::INET->new(q(127.0.0.1:7777)) or die qq(refused\\n); print scalar <$c>'";
    const other = await runTask("probe-other", probe, { network: { mode: "group", group: "other" } });
    expect(other.stdout).toBe("");
    expect(other.stderr).toContain("refused");
    const same = await runTask("probe-same", probe, { network: { mode: "group", group: "svc" } });
    expect(same.stdout).toBe("pong\n");
    await server.wait();
  }, 15_000);

  test("bad network settings are refused with Nomad-style messages", () => {
    expect(() =>
      parseTask({ name: "x", config: { command: "true" }, network: { mode: "bridge" } }, plugin),
    ).toThrow('network mode must be "host", "group" or "none", got "bridge"');
    expect(() =>
      parseTask({ name: "x", config: { command: "true" }, network: { mode: "group" } }, plugin),
    ).toThrow('network mode "group" needs a group name');
  });
});
