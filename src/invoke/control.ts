import { normalizeSignal } from "../driver/signals.ts";
import { BunkerError, errorMessage } from "../errors.ts";
import type { AsyncService } from "./async.ts";
import { ExecUnsupportedError, InvocationNotFoundError, InvocationStateError } from "./errors.ts";
import type { Invoker, Running } from "./invoker.ts";
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

  async get(id: string): Promise<InvocationRecord> {
    const r = await this.#reader.get(id);
    if (!r) throw new InvocationNotFoundError(id);
    return r;
  }

  async list(q: InvocationQuery): Promise<InvocationRecord[]> {
    return await this.#reader.list(q);
  }

  /** Stops a running task (kill_signal, kill_timeout, SIGKILL) or drops a queued job. */
  async cancel(id: string): Promise<InvocationRecord> {
    const before = await this.get(id);
    const running = await this.#invoker.whenActive(id);
    const owned = await this.#async.cancel(id);
    if (running) await running.cancel();
    else if (!owned) throw new InvocationStateError(id, before.status, "cancel");
    return this.get(id);
  }

  /** Nomad `alloc signal`; unknown signal names are the driver's error. */
  async signal(id: string, signal: string, scope: SignalScope): Promise<InvocationRecord> {
    const before = await this.get(id);
    const running = await this.#invoker.whenActive(id);
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

  /** Nomad `alloc exec`: the running task's exec, or why there is none (404, 409, 501). */
  async execTarget(id: string): Promise<NonNullable<Running["exec"]>> {
    const before = await this.get(id);
    const running = await this.#invoker.whenActive(id);
    if (!running) throw new InvocationStateError(id, before.status, "exec into");
    if (!running.exec) throw new ExecUnsupportedError();
    return running.exec;
  }
}
