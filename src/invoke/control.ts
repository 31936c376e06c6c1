import { normalizeSignal } from "../driver/signals.ts";
import { BunkerError, errorMessage } from "../errors.ts";
import type { AsyncService } from "./async.ts";
import { InvocationNotFoundError, InvocationStateError } from "./errors.ts";
import type { Invoker } from "./invoker.ts";
import type { InvocationQuery, InvocationReader, InvocationRecord } from "./record.ts";

export type SignalScope = "main" | "group" | "all";

/** Read, cancel and signal invocations, whether queued, between retries or running. */
export class InvocationControl {
  readonly #invoker: Invoker;
  readonly #async: AsyncService;
  readonly #reader: InvocationReader;

  constructor(deps: { invoker: Invoker; async: AsyncService; reader: InvocationReader }) {
    this.#invoker = deps.invoker;
    this.#async = deps.async;
    this.#reader = deps.reader;
  }

  get(id: string): InvocationRecord {
    const r = this.#reader.get(id);
    if (!r) throw new InvocationNotFoundError(id);
    return r;
  }

  list(q: InvocationQuery): InvocationRecord[] {
    return this.#reader.list(q);
  }

  /** Stops a running task (kill_signal, kill_timeout, SIGKILL) or drops a queued job. */
  async cancel(id: string): Promise<InvocationRecord> {
    const before = this.get(id);
    const running = this.#invoker.active(id);
    const owned = this.#async.cancel(id);
    if (running) await running.cancel();
    else if (!owned) throw new InvocationStateError(id, before.status, "cancel");
    return this.get(id);
  }

  /** Nomad `alloc signal`; unknown signal names are the driver's error. */
  signal(id: string, signal: string, scope: SignalScope): InvocationRecord {
    const before = this.get(id);
    const running = this.#invoker.active(id);
    if (!running) throw new InvocationStateError(id, before.status, "signal");
    const name = normalizeSignal(signal, "/signal");
    try {
      running.signal(name, scope);
    } catch (err) {
      if (err instanceof BunkerError) throw err;
      throw new InvocationStateError(id, `not signalable (${errorMessage(err)})`, "signal");
    }
    return before;
  }
}
