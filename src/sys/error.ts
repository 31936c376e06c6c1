import { BunkerError } from "../errors.ts";
import { errnoName, errnoText } from "./errno.ts";

/**
 * A failed system call: names the call, the path it acted on and the errno,
 * e.g. `pivot_root /var/lib/bunker/root: EINVAL (invalid argument)`.
 */
export class SysError extends BunkerError {
  readonly op: string;
  readonly path: string | undefined;
  readonly errno: number;
  readonly errnoName: string;
  constructor(op: string, errno: number, path?: string, hint?: string) {
    const where = path === undefined ? op : `${op} ${path}`;
    const tail = hint ? `; ${hint}` : "";
    super("sys", `${where}: ${errnoName(errno)} (${errnoText(errno)})${tail}`, {
      op,
      path,
      errno: errnoName(errno),
    });
    this.name = "SysError";
    this.op = op;
    this.path = path;
    this.errno = errno;
    this.errnoName = errnoName(errno);
  }
}

/** Turns a -errno return into a SysError; passes non-negative results through. */
export function check(result: number | bigint, op: string, path?: string): number {
  const n = Number(result);
  if (n < 0) throw new SysError(op, -n, path);
  return n;
}
