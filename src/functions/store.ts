import type { FunctionSpec } from "./spec.ts";

/** Where API-defined functions live. In memory for now; a database store implements it later. */
export interface FunctionStore {
  list(): FunctionSpec[];
  get(name: string): FunctionSpec | undefined;
  put(spec: FunctionSpec): void;
  delete(name: string): boolean;
}

export class MemoryFunctionStore implements FunctionStore {
  readonly #byName = new Map<string, FunctionSpec>();
  list(): FunctionSpec[] {
    return [...this.#byName.values()];
  }
  get(name: string): FunctionSpec | undefined {
    return this.#byName.get(name);
  }
  put(spec: FunctionSpec): void {
    this.#byName.set(spec.name, spec);
  }
  delete(name: string): boolean {
    return this.#byName.delete(name);
  }
}
