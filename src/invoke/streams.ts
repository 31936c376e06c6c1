import type { TaskStdin } from "../driver/api.ts";

/** Reads a stream to its end, handing each chunk to `onChunk`. Never rejects. */
export async function drain(
  src: ReadableStream<Uint8Array>,
  onChunk: (c: Uint8Array) => void,
): Promise<void> {
  try {
    for await (const chunk of src) onChunk(chunk);
  } catch {
    // The task's pipe broke; what we have is what there was.
  }
}

/** Reads a whole (already capped) stream into one buffer. */
export async function collect(src: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  await drain(src, (c) => parts.push(c));
  return Buffer.concat(parts);
}

/**
 * A pull-based view of `src` that passes at most `limit` bytes, then calls `onOver` and ends.
 * Cancelling it calls `onCancel` (the reader went away) and cancels `src`.
 */
export function capStream(
  src: ReadableStream<Uint8Array> | null,
  limit: number,
  onOver: () => void,
  onCancel: () => void,
): ReadableStream<Uint8Array> {
  if (!src) return new ReadableStream({ start: (c) => c.close() });
  const reader = src.getReader();
  let seen = 0;
  return new ReadableStream<Uint8Array>(
    {
      async pull(c) {
        let r: Awaited<ReturnType<typeof reader.read>>;
        try {
          r = await reader.read();
        } catch {
          c.close();
          return;
        }
        if (r.done) return c.close();
        const chunk = r.value;
        if (seen + chunk.byteLength > limit) {
          const room = limit - seen;
          if (room > 0) c.enqueue(chunk.subarray(0, room));
          seen = limit;
          onOver();
          reader.cancel().catch(() => {});
          return c.close();
        }
        seen += chunk.byteLength;
        c.enqueue(chunk);
      },
      cancel(reason) {
        onCancel();
        return reader.cancel(reason).catch(() => {});
      },
    },
    { highWaterMark: 0 },
  );
}

export interface Pump {
  done: Promise<void>;
  /** Stops reading the source (the task ended). */
  cancel(): void;
}

/**
 * Copies the request body into the task's stdin, honouring backpressure, and closes stdin at
 * the end. Past `limit` bytes it calls `onOver` and stops. Write errors (the task closed its
 * stdin or exited) end the pump quietly.
 */
export function pumpStdin(
  src: ReadableStream<Uint8Array> | Uint8Array,
  sink: TaskStdin,
  limit: number,
  onOver: () => void,
): Pump {
  let cancelReader: (() => void) | undefined;
  let cancelled = false;
  const write = (chunk: Uint8Array) => sink.write(chunk);
  const run = async () => {
    try {
      if (src instanceof Uint8Array) {
        if (src.byteLength > limit) return onOver();
        if (src.byteLength > 0) await write(src);
        return;
      }
      const reader = src.getReader();
      cancelReader = () => void reader.cancel().catch(() => {});
      let seen = 0;
      while (!cancelled) {
        const r = await reader.read();
        if (r.done) break;
        seen += r.value.byteLength;
        if (seen > limit) {
          onOver();
          reader.cancel().catch(() => {});
          break;
        }
        await write(r.value);
      }
    } catch {
      // EPIPE and friends: the task stopped reading.
    } finally {
      try {
        await sink.end();
      } catch {
        // already closed
      }
    }
  };
  return {
    done: run(),
    cancel() {
      cancelled = true;
      cancelReader?.();
    },
  };
}
