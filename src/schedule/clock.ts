/**
 * The scheduler's notion of time. Production uses the system clock; tests use a manual clock
 * (advanced by the test) or a scaled clock shared by several processes (BUNKER_TEST_CLOCK).
 */
import { ValidationError } from "../errors.ts";

export interface Clock {
  now(): number;
  /** Calls `fn` once `delayMs` of this clock's time has passed; returns a cancel function. */
  setTimer(delayMs: number, fn: () => void): () => void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(delayMs, fn) {
    const t = setTimeout(fn, Math.max(0, delayMs));
    return () => clearTimeout(t);
  },
};

/** Time moves only when the test says so; timers fire as `advance`/`set` pass them. */
export class ManualClock implements Clock {
  #now: number;
  #timers: { at: number; fn: () => void }[] = [];

  constructor(startMs: number) {
    this.#now = startMs;
  }

  now(): number {
    return this.#now;
  }

  setTimer(delayMs: number, fn: () => void): () => void {
    const timer = { at: this.#now + Math.max(0, delayMs), fn };
    this.#timers.push(timer);
    return () => {
      this.#timers = this.#timers.filter((t) => t !== timer);
    };
  }

  set(ms: number): void {
    this.#now = ms;
    const due = this.#timers.filter((t) => t.at <= ms);
    this.#timers = this.#timers.filter((t) => t.at > ms);
    for (const t of due) t.fn();
  }

  advance(ms: number): void {
    this.set(this.#now + ms);
  }
}

/**
 * Virtual time = `virtualStart` + (real time - `realStart`) × `speed`. Two processes given the
 * same three numbers agree on the time, so their schedulers race for the same due times —
 * a minute schedule fires every second at speed 60.
 */
export class ScaledClock implements Clock {
  constructor(
    readonly realStart: number,
    readonly virtualStart: number,
    readonly speed: number,
  ) {}

  now(): number {
    return this.virtualStart + (Date.now() - this.realStart) * this.speed;
  }

  setTimer(delayMs: number, fn: () => void): () => void {
    const t = setTimeout(fn, Math.max(0, delayMs / this.speed));
    return () => clearTimeout(t);
  }
}

/**
 * Test-only: `BUNKER_TEST_CLOCK="<realStartMs>,<virtualStartMs>,<speed>"` makes a server's
 * scheduler run on a ScaledClock. Not a function setting: production schedules stay minute-resolution.
 */
export function clockFromEnv(value: string | undefined): Clock {
  if (value === undefined || value === "") return systemClock;
  const parts = value.split(",").map(Number);
  const [realStart, virtualStart, speed] = parts;
  if (
    parts.length !== 3 ||
    realStart === undefined ||
    virtualStart === undefined ||
    speed === undefined ||
    !parts.every(Number.isFinite) ||
    speed <= 0
  ) {
    throw new ValidationError(
      `BUNKER_TEST_CLOCK must be "<realStartMs>,<virtualStartMs>,<speed>", got "${value}"`,
      [{ path: "/BUNKER_TEST_CLOCK", message: "expected three numbers, speed > 0" }],
    );
  }
  return new ScaledClock(realStart, virtualStart, speed);
}
