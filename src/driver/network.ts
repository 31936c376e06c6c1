/**
 * Task networking, Nomad's `network { mode, dns }`:
 *   host  — the host's stack (Nomad's default for exec);
 *   group — every task of one group shares one network namespace with its own
 *           loopback; two groups cannot reach each other;
 *   none  — a namespace of its own with loopback only.
 * In the isolated modes /etc/resolv.conf and /etc/hosts are generated for the
 * task (bound over the read-only host /etc), so its DNS settings are its own
 * and never the host's stub resolver.
 */
import { closeSync, existsSync, mkdirSync, openSync, rmSync, writeFileSync } from "node:fs";
import { BunkerError } from "../errors.ts";
import type { PlanStep } from "../sys/plan.ts";
import {
  BK_OP_LOOPBACK_UP,
  BK_OP_MOUNT,
  BK_OP_OPTIONAL,
  BK_OP_REMOUNT,
  BK_OP_SETNS,
  CLONE_NEWNET,
  MS_BIND,
  MS_NODEV,
  MS_NOEXEC,
  MS_NOSUID,
  MS_RDONLY,
} from "../sys/protocol.ts";
import type { NetworkSpec } from "./types.ts";

const GROUP_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export function resolvConf(spec: NetworkSpec): string {
  const dns = spec.dns;
  const lines = (dns?.servers ?? []).map((s) => `nameserver ${s}`);
  if (dns?.searches?.length) lines.push(`search ${dns.searches.join(" ")}`);
  if (dns?.options?.length) lines.push(`options ${dns.options.join(" ")}`);
  return `${lines.join("\n")}\n`;
}

export function hostsFile(hostname: string): string {
  return `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t${hostname}\n`;
}

/**
 * Persistent network namespaces for groups, each bound to a file under
 * <dataDir>/netns (like `ip netns add`), reference-counted by running tasks.
 */
export class NetworkGroups {
  private readonly refs = new Map<string, number>();

  constructor(private readonly dir: string) {}

  path(group: string): string {
    return `${this.dir}/${group}`;
  }

  /** Creates the group's namespace on first use; returns an fd to setns into (the caller closes it). */
  acquire(group: string): number {
    if (!GROUP_NAME.test(group)) {
      throw new BunkerError("invalid", `network group "${group}" must be a DNS label (a-z, 0-9, -)`);
    }
    const file = this.path(group);
    // Only a group no task of ours holds needs checking (findmnt) or creating: not on every start.
    if (!this.refs.has(group) && (!existsSync(file) || !this.isNamespace(file))) this.create(file);
    this.refs.set(group, (this.refs.get(group) ?? 0) + 1);
    return openSync(file, "r");
  }

  /** Drops a reference; the namespace goes with the group's last task. */
  release(group: string): void {
    const n = (this.refs.get(group) ?? 1) - 1;
    if (n > 0) {
      this.refs.set(group, n);
      return;
    }
    this.refs.delete(group);
    this.remove(this.path(group));
  }

  /** Removes the namespaces of groups no task holds (after a crash). */
  reconcile(): void {
    if (!existsSync(this.dir)) return;
    for (const name of new Bun.Glob("*").scanSync({ cwd: this.dir, onlyFiles: false })) {
      if (!this.refs.has(name)) this.remove(this.path(name));
    }
  }

  private isNamespace(file: string): boolean {
    const text = Bun.spawnSync(["findmnt", "-n", "-o", "FSTYPE", "--mountpoint", file]).stdout.toString();
    return text.trim() === "nsfs";
  }

  private create(file: string): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    closeSync(openSync(file, "w", 0o600));
    // util-linux binds the new namespace to the file, as `ip netns add` does.
    const r = Bun.spawnSync(["unshare", `--net=${file}`, "true"]);
    if (r.exitCode !== 0) {
      throw new BunkerError("network", `create network namespace ${file}: ${r.stderr.toString().trim()}`);
    }
  }

  private remove(file: string): void {
    Bun.spawnSync(["umount", file]);
    rmSync(file, { force: true });
  }
}

export interface NetworkPlan {
  /** CLONE_NEWNET for "none"; 0 otherwise. */
  cloneFlags: number;
  /** Steps before the root is assembled: join the group's namespace, bring loopback up. */
  early: PlanStep[];
  /** Steps that bind the generated files over the root's /etc (run while the root is assembled). */
  files: PlanStep[];
}

/**
 * The plan for a task's network. `groupFd` is the open namespace file of its
 * group; `privateDir` is the host directory in the task dir where the
 * generated files are written before the clone.
 */
export function networkPlan(
  spec: NetworkSpec,
  opts: { root: string; privateDir: string; hostname: string; groupFd: number | null },
): NetworkPlan {
  if (spec.mode === "host") return { cloneFlags: 0, early: [], files: [] };
  const early: PlanStep[] = [];
  if (spec.mode === "group") {
    if (opts.groupFd === null)
      throw new BunkerError("network", "network mode group needs the group's namespace");
    early.push({
      code: BK_OP_SETNS,
      num: opts.groupFd,
      args: [String(CLONE_NEWNET)],
      what: "join network group",
      path: spec.group ?? "",
    });
  }
  early.push({ code: BK_OP_LOOPBACK_UP, num: 0, args: [], what: "bring up loopback", path: "lo" });
  mkdirSync(opts.privateDir, { mode: 0o700 });
  writeFileSync(`${opts.privateDir}/resolv.conf`, resolvConf(spec));
  writeFileSync(`${opts.privateDir}/hosts`, hostsFile(opts.hostname));
  const files: PlanStep[] = [];
  for (const name of ["resolv.conf", "hosts"]) {
    const target = `${opts.root}/etc/${name}`;
    // Optional: a chroot_env without /etc has nothing to cover.
    files.push(
      {
        code: BK_OP_MOUNT | BK_OP_OPTIONAL,
        num: MS_BIND,
        args: [`${opts.privateDir}/${name}`, target, null, null],
        what: "bind",
        path: target,
      },
      {
        code: BK_OP_REMOUNT | BK_OP_OPTIONAL,
        num: MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
        args: [target],
        what: "remount",
        path: target,
      },
    );
  }
  return { cloneFlags: spec.mode === "none" ? CLONE_NEWNET : 0, early, files };
}
