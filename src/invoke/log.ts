import {
  FINAL_STATUSES,
  type InvocationQuery,
  type InvocationReader,
  type InvocationRecord,
  type InvocationSink,
} from "./record.ts";

/**
 * Recent invocations in memory: every unfinished one, plus the last `capacity` finished ones.
 * Map insertion order is creation order, so eviction drops the oldest finished record.
 */
export class MemoryInvocationLog implements InvocationSink, InvocationReader {
  readonly #records = new Map<string, InvocationRecord>();
  readonly #capacity: number;
  #finished = 0;

  constructor(opts: { capacity?: number } = {}) {
    this.#capacity = opts.capacity ?? 1000;
  }

  #save(r: InvocationRecord): void {
    const before = this.#records.get(r.id);
    const wasFinal = before !== undefined && FINAL_STATUSES.has(before.status);
    this.#records.set(r.id, { ...r });
    if (FINAL_STATUSES.has(r.status) && !wasFinal) this.#finished++;
    if (this.#finished <= this.#capacity) return;
    for (const [id, rec] of this.#records) {
      if (this.#finished <= this.#capacity) break;
      if (FINAL_STATUSES.has(rec.status)) {
        this.#records.delete(id);
        this.#finished--;
      }
    }
  }

  onQueued(r: InvocationRecord): void {
    this.#save(r);
  }
  onStarted(r: InvocationRecord): void {
    this.#save(r);
  }
  onFinished(r: InvocationRecord): void {
    this.#save(r);
  }

  get(id: string): InvocationRecord | undefined {
    const r = this.#records.get(id);
    return r && { ...r };
  }

  list(q: InvocationQuery): InvocationRecord[] {
    const limit = Math.max(1, Math.min(q.limit ?? 50, 1000));
    const out: InvocationRecord[] = [];
    for (const r of [...this.#records.values()].reverse()) {
      if (q.function !== undefined && r.function !== q.function) continue;
      if (q.status !== undefined && r.status !== q.status) continue;
      out.push({ ...r });
      if (out.length >= limit) break;
    }
    return out;
  }
}
