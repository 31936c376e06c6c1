/**
 * The two messages bunker-init's control socket carries (ffi/protocol.h):
 * the task's identity — credentials, capability sets, limits — sent with the
 * clone, so the task's process takes it while the slot waits; and the exec
 * request — cwd, the path to exec, argv and envp, with the task's stdio as
 * SCM_RIGHTS beside it — sent when the invocation comes.
 */
import { BK_ID_MAGIC, BK_REQ_MAGIC, BK_REQ_MAX, BK_REQ_NO_NEW_PRIVS, BK_REQ_TTY } from "./protocol.ts";
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

/** Who the task runs as; fixed when its slot is prepared. */
export interface TaskIdentity {
  uid: number;
  gid: number;
  groups: number[];
  caps: CapabilitySets;
  noNewPrivs: boolean;
  rlimits: Rlimit[];
}

/** What the task runs; sent when it is launched. */
export interface ExecRequest {
  /** stdin is a terminal to become the controlling tty (alloc exec -t). */
  tty?: boolean;
  /** Working directory inside the task root. */
  cwd: string;
  /** Path of the executable inside the task root. */
  path: string;
  argv: string[];
  envp: string[];
}

export function encodeIdentity(id: TaskIdentity): Uint8Array {
  const w = new BinaryWriter();
  w.u32(BK_ID_MAGIC);
  w.u32(id.uid);
  w.u32(id.gid);
  w.u32(id.groups.length);
  for (const g of id.groups) w.u32(g);
  for (const set of [
    id.caps.effective,
    id.caps.permitted,
    id.caps.inheritable,
    id.caps.bounding,
    id.caps.ambient,
  ]) {
    w.u64(set);
  }
  w.u32(id.noNewPrivs ? BK_REQ_NO_NEW_PRIVS : 0);
  w.u32(id.rlimits.length);
  for (const l of id.rlimits) {
    w.u32(l.resource);
    w.u64(l.soft);
    w.u64(l.hard);
  }
  return w.done();
}

export function encodeExec(r: ExecRequest): Uint8Array {
  const w = new BinaryWriter();
  w.u32(BK_REQ_MAGIC);
  w.u32(r.tty ? BK_REQ_TTY : 0);
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
