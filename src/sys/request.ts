/**
 * TaskRequest: what bunker-init needs to become the task — credentials,
 * capability sets, limits, cwd, the path to exec, argv and envp — encoded as
 * the one datagram ffi/protocol.h describes. The task's stdio travels beside
 * it as SCM_RIGHTS.
 */
import { BK_REQ_MAGIC, BK_REQ_MAX, BK_REQ_NO_NEW_PRIVS, BK_REQ_TTY } from "./protocol.ts";
import { BinaryWriter } from "./writer.ts";

export interface CapabilitySets {
  effective: bigint;
  permitted: bigint;
  inheritable: bigint;
  bounding: bigint;
  ambient: bigint;
}

export interface Rlimit {
  /** RLIMIT_* number. */
  resource: number;
  soft: bigint;
  hard: bigint;
}

export interface TaskRequest {
  uid: number;
  gid: number;
  groups: number[];
  caps: CapabilitySets;
  noNewPrivs: boolean;
  /** stdin is a terminal to become the controlling tty (alloc exec -t). */
  tty?: boolean;
  rlimits: Rlimit[];
  /** Working directory inside the task root. */
  cwd: string;
  /** Path of the executable inside the task root. */
  path: string;
  argv: string[];
  envp: string[];
}

export function encodeRequest(r: TaskRequest): Uint8Array {
  const w = new BinaryWriter();
  w.u32(BK_REQ_MAGIC);
  w.u32(r.uid);
  w.u32(r.gid);
  w.u32(r.groups.length);
  for (const g of r.groups) w.u32(g);
  for (const set of [
    r.caps.effective,
    r.caps.permitted,
    r.caps.inheritable,
    r.caps.bounding,
    r.caps.ambient,
  ]) {
    w.u64(set);
  }
  w.u32((r.noNewPrivs ? BK_REQ_NO_NEW_PRIVS : 0) | (r.tty ? BK_REQ_TTY : 0));
  w.u32(r.rlimits.length);
  for (const l of r.rlimits) {
    w.u32(l.resource);
    w.u64(l.soft);
    w.u64(l.hard);
  }
  w.str(r.cwd);
  w.str(r.path);
  w.strv(r.argv);
  w.strv(r.envp);
  const bytes = w.done();
  if (bytes.byteLength > BK_REQ_MAX) {
    throw new RangeError(
      `task arguments and environment take ${bytes.byteLength} bytes; the limit is ${BK_REQ_MAX}`,
    );
  }
  return bytes;
}
