import { z } from "zod";
import { taskJsonSchema } from "../driver/config.ts";
import { FUNCTION_NAME_PATTERN } from "./name.ts";
import { FunctionSettingsSchema } from "./schema.ts";

type Json = Record<string, unknown>;

function obj(v: unknown): Json {
  return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Json) : {};
}

/**
 * JSON Schema (draft 2020-12) of a function file (functions/function.schema.json): the exec
 * driver's task schema with its `config { ... }` block lifted to the top level, plus the
 * function settings. Generated from the zod schemas, never written by hand.
 */
export function functionJsonSchema(): Json {
  const task = taskJsonSchema();
  const taskProps = obj(task.properties);
  const config = obj(taskProps.config);
  const settings = z.toJSONSchema(FunctionSettingsSchema, { io: "input", unrepresentable: "any" }) as Json;
  const { name: _name, config: _config, driver: _driver, timeout: _timeout, ...taskLevel } = taskProps;
  return {
    $schema: "https://json-schema.org/draft/2020-12/schema",
    $id: "https://bunker.invalid/function.schema.json",
    title: "Bunker function",
    description:
      "One function: functions/<name>.toml or <name>.json, or the body of PUT /system/functions/{name}. " +
      "Nomad task fields (command, args, env, user, pid_mode, ipc_mode, cap_add, cap_drop, work_dir, " +
      "kill_signal, kill_timeout, resources, meta) plus function settings.",
    type: "object",
    properties: {
      name: { type: "string", pattern: FUNCTION_NAME_PATTERN, description: "Must match the file name" },
      ...obj(config.properties),
      ...taskLevel,
      ...obj(settings.properties),
    },
    required: ["command"],
    additionalProperties: false,
  };
}
