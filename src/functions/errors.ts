import { BunkerError } from "../errors.ts";

export class FunctionNotFoundError extends BunkerError {
  constructor(name: string) {
    super("function_not_found", `function "${name}" not found`, { function: name });
    this.name = "FunctionNotFoundError";
  }
}

export class FunctionExistsError extends BunkerError {
  constructor(name: string) {
    super("function_exists", `function "${name}" already exists; use PUT to replace it`, { function: name });
    this.name = "FunctionExistsError";
  }
}

export class FunctionReadOnlyError extends BunkerError {
  constructor(name: string, path: string | undefined) {
    super("function_read_only", `function "${name}" is defined by the file ${path ?? "?"} and is read-only`, {
      function: name,
    });
    this.name = "FunctionReadOnlyError";
  }
}
