/**
 * The one bun:ffi symbol table (STYLE.md example 6): libbunker.so from ffi/,
 * loaded lazily on first use. Every symbol returns -errno on failure; the
 * typed wrappers below turn that into a SysError naming the call and path.
 * Nothing else in Bunker imports bun:ffi.
 */
import { dlopen, FFIType, ptr } from "bun:ffi";
import { existsSync } from "node:fs";
import { BunkerError } from "../errors.ts";
import { check } from "./error.ts";

const BUILD_DIR = new URL("../../ffi/build/", import.meta.url).pathname;
export const LIB_PATH = `${BUILD_DIR}libbunker.so`;
export const INIT_PATH = `${BUILD_DIR}bunker-init`;

const symbols = {
  bk_spawn: { args: [FFIType.ptr, FFIType.u32, FFIType.ptr], returns: FFIType.i32 },
  bk_wait: { args: [FFIType.i32, FFIType.ptr], returns: FFIType.i64 },
  bk_pidfd_signal: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  bk_kill: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  bk_pipe: { args: [FFIType.ptr], returns: FFIType.i32 },
  bk_socketpair: { args: [FFIType.ptr], returns: FFIType.i32 },
  bk_open_pty: { args: [FFIType.cstring, FFIType.ptr], returns: FFIType.i32 },
  bk_set_winsize: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  bk_send_request: { args: [FFIType.i32, FFIType.ptr, FFIType.u32, FFIType.ptr], returns: FFIType.i32 },
  bk_open: { args: [FFIType.cstring, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  bk_close: { args: [FFIType.i32], returns: FFIType.i32 },
  bk_umount: { args: [FFIType.cstring, FFIType.i32], returns: FFIType.i32 },
} as const;

type Lib = ReturnType<typeof dlopen<typeof symbols>>["symbols"];
let lib: Lib | undefined;

function load(): Lib {
  if (lib) return lib;
  if (!existsSync(LIB_PATH) || !existsSync(INIT_PATH)) {
    throw new BunkerError(
      "native_missing",
      `Bunker's native side is not built (${LIB_PATH}); run: npm run build:ffi`,
    );
  }
  lib = dlopen(LIB_PATH, symbols).symbols;
  return lib;
}

/** NUL-terminated UTF-8 for a cstring argument. */
function cstr(s: string): Buffer {
  return Buffer.from(`${s}\0`, "utf8");
}

/** Clones a child from an encoded plan; returns its pid and pidfd. */
export function spawnPlan(plan: Uint8Array): { pid: number; pidfd: number } {
  const out = new Int32Array(1);
  const pid = check(load().bk_spawn(ptr(plan), plan.byteLength, ptr(out)), "clone3");
  return { pid, pidfd: out[0]! };
}

export interface WaitResult {
  pid: number;
  status: number;
  userUs: number;
  systemUs: number;
  maxRssKb: number;
}

/** Non-blocking wait4 of one pid (never -1: children of Bun.spawn are not ours). */
export function waitPid(pid: number): WaitResult | null {
  const out = new BigInt64Array(4);
  const r = check(load().bk_wait(pid, ptr(out)), "wait4", `pid ${pid}`);
  if (r === 0) return null;
  return {
    pid: r,
    status: Number(out[0]),
    userUs: Number(out[1]),
    systemUs: Number(out[2]),
    maxRssKb: Number(out[3]),
  };
}

/** Signals through the pidfd, so a recycled pid can never be hit. */
export function pidfdSignal(pidfd: number, signal: number): void {
  check(load().bk_pidfd_signal(pidfd, signal), "pidfd_send_signal", `signal ${signal}`);
}

export function killPid(pid: number, signal: number): void {
  check(load().bk_kill(pid, signal), "kill", `pid ${pid}`);
}

/** A close-on-exec pipe: [read end, write end]. */
export function pipe(): [number, number] {
  const out = new Int32Array(2);
  check(load().bk_pipe(ptr(out)), "pipe2");
  return [out[0]!, out[1]!];
}

/** A close-on-exec SOCK_SEQPACKET pair: [server end, child end]. */
export function socketPair(): [number, number] {
  const out = new Int32Array(2);
  check(load().bk_socketpair(ptr(out)), "socketpair");
  return [out[0]!, out[1]!];
}

/** Sends one message datagram, with the task's three stdio fds attached when given. */
export function sendMessage(
  sock: number,
  message: Uint8Array,
  stdio?: readonly [number, number, number],
): void {
  const fds = stdio ? new Int32Array(stdio) : null;
  check(
    load().bk_send_request(sock, ptr(message), message.byteLength, fds && ptr(fds)),
    "sendmsg",
    "control socket",
  );
}

/** A pty pair from the devpts instance behind `ptmx`: [master, peer]. */
export function openPty(ptmx: string): [number, number] {
  const out = new Int32Array(2);
  check(load().bk_open_pty(cstr(ptmx), ptr(out)), "open pty", ptmx);
  return [out[0]!, out[1]!];
}

export function setWinsize(fd: number, cols: number, rows: number): void {
  check(load().bk_set_winsize(fd, cols, rows), "ioctl(TIOCSWINSZ)", `fd ${fd}`);
}

export function openFd(path: string, flags: number, mode = 0): number {
  return check(load().bk_open(cstr(path), flags, mode), "open", path);
}

export function closeFd(fd: number): void {
  check(load().bk_close(fd), "close", `fd ${fd}`);
}

export function umount(path: string, flags: number): void {
  check(load().bk_umount(cstr(path), flags), "umount2", path);
}
