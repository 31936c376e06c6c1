import { createHmac, timingSafeEqual } from "node:crypto";
import { errorMessage } from "../errors.ts";
import { backoffDelay, sleepUnlessAborted } from "./backoff.ts";
import type { InvocationStatus } from "./record.ts";

/**
 * Result callbacks of async invocations. The body is the function's stdout; headers say what
 * happened. `X-Bunker-Signature: sha256=<hex>` is HMAC-SHA256(secret, `<call id>.<timestamp>.` + body)
 * with the timestamp from `X-Bunker-Timestamp` (unix seconds), so a receiver can refuse replays.
 */

export const SIGNATURE_HEADER = "X-Bunker-Signature";
export const TIMESTAMP_HEADER = "X-Bunker-Timestamp";

/** The HTTP status a synchronous call would have answered: X-Function-Status. */
export function functionStatusCode(status: InvocationStatus): number {
  switch (status) {
    case "succeeded":
      return 200;
    case "timeout":
      return 504;
    case "cancelled":
      return 499;
    default:
      return 500;
  }
}

export function signCallback(secret: string, callId: string, timestamp: string, body: Uint8Array): string {
  const mac = createHmac("sha256", secret).update(`${callId}.${timestamp}.`).update(body).digest("hex");
  return `sha256=${mac}`;
}

export function verifyCallback(
  secret: string,
  callId: string,
  timestamp: string,
  body: Uint8Array,
  signature: string,
): boolean {
  const want = Buffer.from(signCallback(secret, callId, timestamp, body));
  const got = Buffer.from(signature);
  return want.length === got.length && timingSafeEqual(want, got);
}

export interface CallbackMessage {
  url: string;
  callId: string;
  functionName: string;
  status: InvocationStatus;
  durationMs: number;
  body: Uint8Array;
  contentType: string;
  exitCode?: number;
}

export interface CallbackOptions {
  secret: string;
  attempts: number;
  backoffMs: number;
  timeoutMs: number;
  signal?: AbortSignal;
}

/** POSTs the result, retrying network errors and 5xx answers. Returns the last HTTP status or null. */
export async function deliverCallback(
  msg: CallbackMessage,
  opts: CallbackOptions,
): Promise<{ status: number | null; error?: string }> {
  let last: { status: number | null; error?: string } = { status: null, error: "not attempted" };
  for (let attempt = 1; attempt <= opts.attempts; attempt++) {
    if (opts.signal?.aborted) break;
    const timestamp = String(Math.floor(Date.now() / 1000));
    const headers: Record<string, string> = {
      "Content-Type": msg.contentType,
      "X-Call-Id": msg.callId,
      "X-Function-Name": msg.functionName,
      "X-Function-Status": String(functionStatusCode(msg.status)),
      "X-Duration-Seconds": (msg.durationMs / 1000).toFixed(3),
      [TIMESTAMP_HEADER]: timestamp,
      [SIGNATURE_HEADER]: signCallback(opts.secret, msg.callId, timestamp, msg.body),
    };
    if (msg.exitCode !== undefined) headers["X-Function-Exit-Code"] = String(msg.exitCode);
    try {
      const res = await fetch(msg.url, {
        method: "POST",
        headers,
        body: msg.body,
        redirect: "manual",
        signal: AbortSignal.timeout(opts.timeoutMs),
      });
      await res.body?.cancel();
      last = { status: res.status };
      if (res.status < 500) return last;
    } catch (err) {
      last = { status: null, error: errorMessage(err) };
    }
    if (attempt < opts.attempts) await sleepUnlessAborted(backoffDelay(opts.backoffMs, attempt), opts.signal);
  }
  return last;
}
