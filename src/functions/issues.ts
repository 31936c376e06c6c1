import type { z } from "zod";

/** RFC 6901 JSON pointer of a zod issue path ("" is the whole document). */
export function jsonPointer(path: readonly PropertyKey[]): string {
  return path.map((p) => `/${String(p).replaceAll("~", "~0").replaceAll("/", "~1")}`).join("");
}

export function zodIssues(error: z.ZodError, prefix = ""): { path: string; message: string }[] {
  return error.issues.map((i) => ({ path: prefix + jsonPointer(i.path), message: i.message }));
}
