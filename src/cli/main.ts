#!/usr/bin/env bun
/**
 * The `bunker` command. Each subcommand is one file; errors become one line
 * on stderr and a non-zero exit (2 for bad input, 127 for a missing command).
 */
import { loadConfig } from "../config.ts";
import { BunkerError, errorMessage } from "../errors.ts";
import { doctor } from "./doctor.ts";
import { functionsCommand } from "./functions.ts";
import { inspectCommand } from "./inspect.ts";
import { invokeCommand } from "./invoke.ts";
import { jobsCommand } from "./jobs.ts";
import { runCommand } from "./run.ts";

const USAGE = `usage: bunker <command>
  serve                 start the gateway (default 127.0.0.1:8080)
  run [flags] -- CMD    run one isolated task (bunker run --help)
  doctor                show the exec driver's fingerprint
  invoke NAME [-d DATA]   call a function on a running server (bunker invoke --help)
  functions list|validate [DIR]  function definitions
  inspect CALL_ID       one invocation's record
  jobs list|next|trigger  scheduled functions (bunker jobs --help)`;

/** Exit code for an error that stopped the CLI itself. */
export function exitCodeOf(err: unknown): number {
  if (!(err instanceof BunkerError)) return 1;
  if (err.code === "not_found") return 127;
  if (err.code === "invalid") return 2;
  return 1;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const config = loadConfig();
  switch (command) {
    case "serve": {
      // Loaded on demand: the server's whole graph costs client commands about a second.
      const { serve } = await import("../main.ts");
      await serve(config);
      return new Promise<number>(() => {}); // serve until killed
    }
    case "run":
      return runCommand(rest, config);
    case "doctor":
      return doctor(config);
    case "invoke":
      return invokeCommand(rest, config);
    case "functions":
      return functionsCommand(rest, config);
    case "inspect":
      return inspectCommand(rest, config);
    case "jobs":
      return jobsCommand(rest, config);
    case undefined:
    case "help":
    case "--help":
      console.log(USAGE);
      return command === undefined ? 2 : 0;
    default:
      console.error(`bunker: unknown command "${command}"\n${USAGE}`);
      return 2;
  }
}

if (import.meta.main) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(`bunker: ${errorMessage(err)}`);
      process.exit(exitCodeOf(err));
    },
  );
}
