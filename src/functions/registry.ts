import { FunctionExistsError, FunctionNotFoundError, FunctionReadOnlyError } from "./errors.ts";
import { buildFunctionSpec, type FunctionSpec, type TaskParser } from "./spec.ts";
import { type FunctionStore, MemoryFunctionStore } from "./store.ts";

/** File-defined functions (read-only) over an API store (read-write). A file wins on a name clash. */
export class FunctionRegistry {
  readonly #files: Map<string, FunctionSpec>;
  readonly #store: FunctionStore;
  readonly #parseTask: TaskParser;

  constructor(opts: { files?: FunctionSpec[]; store?: FunctionStore; parseTask: TaskParser }) {
    this.#files = new Map((opts.files ?? []).map((f) => [f.name, f]));
    this.#store = opts.store ?? new MemoryFunctionStore();
    this.#parseTask = opts.parseTask;
  }

  get(name: string): FunctionSpec | undefined {
    return this.#files.get(name) ?? this.#store.get(name);
  }

  require(name: string): FunctionSpec {
    const fn = this.get(name);
    if (!fn) throw new FunctionNotFoundError(name);
    return fn;
  }

  list(): FunctionSpec[] {
    const all = new Map(this.#store.list().map((f) => [f.name, f]));
    for (const f of this.#files.values()) all.set(f.name, f);
    return [...all.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Validates without storing (throws ValidationError). */
  validate(name: string, input: unknown): FunctionSpec {
    return buildFunctionSpec(name, input, { source: "api", parseTask: this.#parseTask });
  }

  create(name: string, input: unknown): FunctionSpec {
    const spec = this.validate(name, input);
    if (this.get(name)) throw new FunctionExistsError(name);
    this.#store.put(spec);
    return spec;
  }

  /** Creates or replaces an API function; returns whether it was created. */
  put(name: string, input: unknown): { spec: FunctionSpec; created: boolean } {
    const file = this.#files.get(name);
    if (file) throw new FunctionReadOnlyError(name, file.path);
    const spec = this.validate(name, input);
    const created = this.#store.get(name) === undefined;
    this.#store.put(spec);
    return { spec, created };
  }

  delete(name: string): void {
    const file = this.#files.get(name);
    if (file) throw new FunctionReadOnlyError(name, file.path);
    if (!this.#store.delete(name)) throw new FunctionNotFoundError(name);
  }
}
