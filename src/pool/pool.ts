/**
 * The warm pool: prepared task slots kept ready, so that an isolated start
 * costs one message to a waiting bunker-init, a fork and the task's execve.
 *
 * A slot is a task directory, a cgroup and bunker-init already cloned into
 * the task's namespaces and root (src/driver/exec.ts prepare()). Slots are
 * keyed by everything that shapes them (user, capabilities, namespaces,
 * limits, command, mounts); per-invocation inputs (args, env, timeout, kill
 * signal) travel with the launch. A slot is used once: what one invocation
 * wrote is gone with it. The pool wraps a driver and is itself a Driver, so
 * the layers above do not know whether a start was warm or cold — except
 * through `TaskHandle.warm`, which telemetry reports as faas.coldstart.
 */
import { readFileSync } from "node:fs";
import type { Driver, Fingerprint, PoolSettings, StartOptions, TaskHandle } from "../driver/api.ts";
import type { LaunchOptions, PreparedTask } from "../driver/exec.ts";
import type { TaskSpec } from "../driver/types.ts";

/** What the pool needs from a driver: the two halves of a start. */
export interface Preparer extends Driver {
  prepare(spec: TaskSpec): Promise<PreparedTask>;
}

export interface PoolOptions {
  /** Ready slots kept per key while it is in use (default 1). */
  min: number;
  /** Ready + preparing slots per key at most (default 4). */
  max: number;
  /** A key unused this long is emptied (default 5 min). */
  idleTtlMs: number;
  /** Ready + preparing slots over all keys at most (default 64). */
  globalMax: number;
}

export const DEFAULT_POOL: PoolOptions = { min: 1, max: 4, idleTtlMs: 5 * 60_000, globalMax: 64 };

/**
 * File descriptors the server holds per ready slot: the control socket, the
 * pidfd, the three cgroup files its end reads, and the socket's reader
 * (test/pool/pool.test.ts measures it). The pool never lets ready slots take
 * more than a quarter of the process's fd limit.
 */
export const FDS_PER_SLOT = 6;
const FD_SHARE = 0.25;

/** The soft RLIMIT_NOFILE of this process, from /proc (no libc call needed); null when unknown. */
function openFileLimit(): number | null {
  try {
    const line = readFileSync("/proc/self/limits", "utf8")
      .split("\n")
      .find((l) => l.startsWith("Max open files"));
    const soft = line?.split(/\s{2,}/)[1];
    return soft === undefined || soft === "unlimited" ? null : Number(soft);
  } catch {
    return null;
  }
}

/** What the ready slots cost now: counted and measured from /proc. */
export interface PoolFootprint {
  slots: number;
  /** Largest number of slots the pool keeps: globalMax, lowered to fit the fd share. */
  slotCap: number;
  fds: number;
  /** Proportional set size of every ready slot's bunker-init and waiting task process. */
  pssBytes: number;
}

function pssOf(pid: number): number {
  let total = 0;
  let children: string[] = [];
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(" ").filter(Boolean);
  } catch {
    return 0;
  }
  for (const p of [String(pid), ...children]) {
    try {
      const kib = /^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${p}/smaps_rollup`, "utf8"))?.[1];
      total += Number(kib ?? 0) * 1024;
    } catch {
      // gone meanwhile
    }
  }
  return total;
}

export interface PoolKeyStats {
  ready: number;
  preparing: number;
  inflight: number;
  warmStarts: number;
  coldStarts: number;
}

interface Entry {
  spec: TaskSpec;
  /** The function's own settings over the pool's defaults. */
  settings: PoolSettings;
  ready: PreparedTask[];
  preparing: number;
  inflight: number;
  lastUsed: number;
  warmStarts: number;
  coldStarts: number;
  failures: number;
}

/** JSON with object keys sorted at every depth, so equal shapes give equal keys. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/** The fields that shape a slot; two specs with the same key can share slots. */
export function slotKey(spec: TaskSpec): string {
  const { args: _a, env: _e, timeoutMs: _t, killSignal: _s, killTimeoutMs: _k, ...shape } = spec;
  return canonical(shape);
}

export class WarmPool implements Driver {
  private readonly entries = new Map<string, Entry>();
  private readonly filling = new Set<Promise<void>>();
  private readonly sweeper: ReturnType<typeof setInterval>;
  private closed = false;

  /** globalMax, lowered so that ready slots hold at most a quarter of the fd limit. */
  readonly slotCap: number;

  constructor(
    private readonly driver: Preparer,
    private readonly opts: PoolOptions = DEFAULT_POOL,
  ) {
    const nofile = openFileLimit();
    const byFds = nofile === null ? Number.POSITIVE_INFINITY : Math.floor((nofile * FD_SHARE) / FDS_PER_SLOT);
    this.slotCap = Math.max(0, Math.min(opts.globalMax, byFds));
    this.sweeper = setInterval(() => void this.sweep(), Math.min(opts.idleTtlMs, 10_000));
    this.sweeper.unref?.();
  }

  fingerprint(): Fingerprint {
    return this.driver.fingerprint();
  }

  /** Warm when a slot is ready, cold otherwise; either way the key is refilled in the background. */
  async start(spec: TaskSpec, opts: StartOptions = {}): Promise<TaskHandle> {
    const key = slotKey(spec);
    const entry = this.entry(key, spec);
    entry.lastUsed = Date.now();
    if (opts.pool) entry.settings = opts.pool;
    const ready = this.launchReady(entry, spec, opts);
    const handle = ready ?? (await this.startCold(entry, spec, opts));
    entry.inflight++;
    // Refill once this task is done, off its path; a key caught empty (a burst) refills at once.
    if (ready === null) this.refill(key);
    void handle.wait().finally(() => {
      entry.inflight--;
      this.refill(key);
    });
    return handle;
  }

  /** A ready slot launched, or null when none is ready (or every ready one has died meanwhile). */
  private launchReady(entry: Entry, spec: TaskSpec, opts: StartOptions): TaskHandle | null {
    for (let slot = entry.ready.pop(); slot; slot = entry.ready.pop()) {
      if (!slot.alive) {
        void slot.discard().catch(() => undefined);
        continue;
      }
      try {
        const handle = slot.launch({ ...opts, spec, warm: true } satisfies LaunchOptions);
        entry.warmStarts++;
        return handle;
      } catch {
        void slot.discard().catch(() => undefined);
      }
    }
    return null;
  }

  private async startCold(entry: Entry, spec: TaskSpec, opts: StartOptions): Promise<TaskHandle> {
    entry.coldStarts++;
    const handle = await this.driver.start(spec, opts);
    entry.failures = 0; // the spec works: let refilling resume
    return handle;
  }

  /** Prepares slots for a spec ahead of its first invocation (e.g. at start-up), with its own settings. */
  warm(spec: TaskSpec, settings?: PoolSettings): void {
    const key = slotKey(spec);
    const e = this.entry(key, spec);
    e.lastUsed = Date.now();
    if (settings) e.settings = settings;
    this.refill(key);
  }

  stats(): Record<string, PoolKeyStats> {
    const out: Record<string, PoolKeyStats> = {};
    for (const e of this.entries.values()) {
      const name = e.spec.name;
      const s = out[name] ?? { ready: 0, preparing: 0, inflight: 0, warmStarts: 0, coldStarts: 0 };
      out[name] = s;
      s.ready += e.ready.length;
      s.preparing += e.preparing;
      s.inflight += e.inflight;
      s.warmStarts += e.warmStarts;
      s.coldStarts += e.coldStarts;
    }
    return out;
  }

  /** Ready slots now, their fds and their processes' memory (for /system/info and /metrics). */
  footprint(): PoolFootprint {
    let pssBytes = 0;
    for (const e of this.entries.values()) for (const slot of e.ready) pssBytes += pssOf(slot.pid);
    const slots = this.readySlots();
    return { slots, slotCap: this.slotCap, fds: slots * FDS_PER_SLOT, pssBytes };
  }

  /** Ready slots over all keys (counted, nothing read from /proc). */
  readySlots(): number {
    let n = 0;
    for (const e of this.entries.values()) n += e.ready.length;
    return n;
  }

  /** Ready and preparing slots over all keys. */
  size(): number {
    let n = 0;
    for (const e of this.entries.values()) n += e.ready.length + e.preparing;
    return n;
  }

  /** Discards every ready slot; slots being prepared are discarded when they land. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.sweeper);
    const all = [...this.entries.values()].flatMap((e) => e.ready.splice(0));
    await Promise.all(all.map((slot) => slot.discard()));
  }

  private entry(key: string, spec: TaskSpec): Entry {
    let e = this.entries.get(key);
    if (!e) {
      e = {
        spec,
        settings: {},
        ready: [],
        preparing: 0,
        inflight: 0,
        lastUsed: Date.now(),
        warmStarts: 0,
        coldStarts: 0,
        failures: 0,
      };
      this.entries.set(key, e);
    }
    return e;
  }

  /** Ready slots wanted for a key: one per running invocation plus `min`, capped at `max`. */
  private target(e: Entry): number {
    const min = e.settings.min ?? this.opts.min;
    const max = Math.max(e.settings.max ?? this.opts.max, min);
    return Math.min(max, e.inflight + min);
  }

  private refill(key: string): void {
    const e = this.entries.get(key);
    if (!e || this.closed) return;
    // Back off after repeated failures (a broken spec would otherwise spin).
    if (e.failures >= 3) return;
    while (e.ready.length + e.preparing < this.target(e) && this.size() < this.slotCap) {
      e.preparing++;
      // Off the caller's path, after the current turn of the event loop.
      const done: Promise<void> = new Promise((resolve) => {
        setImmediate(() => void this.prepareOne(key, e).finally(resolve));
      });
      this.filling.add(done);
      void done.finally(() => this.filling.delete(done));
    }
  }

  /** Resolves when no slot is being prepared (benchmarks wait for it between samples). */
  async settled(): Promise<void> {
    while (this.filling.size > 0) await Promise.all([...this.filling]);
  }

  private async prepareOne(key: string, e: Entry): Promise<void> {
    try {
      const slot = await this.driver.prepare(e.spec);
      e.failures = 0;
      if (this.closed || this.entries.get(key) !== e) await slot.discard();
      else e.ready.push(slot);
    } catch {
      // The cold path will surface the same error to a caller; here it only stops refilling.
      e.failures++;
    } finally {
      e.preparing--;
    }
  }

  /** Empties keys unused for idleTtlMs. */
  private async sweep(): Promise<void> {
    const now = Date.now();
    for (const [key, e] of this.entries) {
      if (now - e.lastUsed < (e.settings.idleTtlMs ?? this.opts.idleTtlMs) || e.inflight > 0) continue;
      const idle = e.ready.splice(0);
      if (e.preparing === 0) this.entries.delete(key);
      await Promise.all(idle.map((slot) => slot.discard()));
    }
  }
}
