/**
 * `bunker jobs list | next NAME [-n 5] | trigger NAME`: scheduled functions, through a running
 * server's /system/jobs API.
 */
import type { Config } from "../config.ts";
import { BunkerError, ValidationError } from "../errors.ts";
import type { FireReport, JobInfo } from "../schedule/scheduler.ts";

export const JOBS_USAGE = `usage: bunker jobs <command> [--url URL] [--token TOKEN] [--json]
  list                  schedules with their last and next runs
  next NAME [-n 5]      the next fire times of a job
  trigger NAME          run a job now (its overlap policy applies)`;

interface JobsFlags {
  url: string;
  token: string | undefined;
  json: boolean;
  n: number;
  positional: string[];
}

function parseJobsFlags(argv: string[], config: Config): JobsFlags {
  const host = config.BUNKER_HOST.includes(":") ? `[${config.BUNKER_HOST}]` : config.BUNKER_HOST;
  const out: JobsFlags = {
    url: `http://${host}:${config.BUNKER_PORT}`,
    token: undefined,
    json: false,
    n: 5,
    positional: [],
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    const [flag = "", inline] = arg.startsWith("-") ? arg.split(/=(.*)/s, 2) : [arg];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new ValidationError(`flag ${flag} needs a value; ${JOBS_USAGE}`);
      return v;
    };
    if (flag === "--url") out.url = value();
    else if (flag === "--token") out.token = value();
    else if (flag === "--json") out.json = true;
    else if (flag === "-n" || flag === "--n") {
      const raw = value();
      if (!/^\d+$/.test(raw) || Number(raw) < 1 || Number(raw) > 100) {
        throw new ValidationError(`-n must be a whole number from 1 to 100, got "${raw}"`);
      }
      out.n = Number(raw);
    } else if (arg.startsWith("-")) throw new ValidationError(`unknown flag ${flag}; ${JOBS_USAGE}`);
    else out.positional.push(arg);
  }
  return out;
}

class JobsApiError extends BunkerError {
  constructor(message: string, status: number) {
    super(status === 404 ? "not_found" : status === 422 ? "invalid" : "jobs_api", message, { status });
    this.name = "JobsApiError";
  }
}

async function call(f: JobsFlags, method: "GET" | "POST", path: string): Promise<unknown> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (f.token) headers.Authorization = `Bearer ${f.token}`;
  let res: Response;
  try {
    res = await fetch(new URL(path, f.url), { method, headers });
  } catch (err) {
    throw new BunkerError("unreachable", `cannot reach the Bunker server at ${f.url}: ${String(err)}`);
  }
  const body = (await res.json().catch(() => null)) as Record<string, unknown> | null;
  if (!res.ok) {
    const detail = typeof body?.detail === "string" ? body.detail : res.statusText;
    throw new JobsApiError(`${method} ${path}: ${res.status} ${detail}`, res.status);
  }
  return body;
}

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i] ?? 0))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

function oneName(f: JobsFlags, what: string): string {
  const [name, extra] = f.positional;
  if (name === undefined || extra !== undefined)
    throw new ValidationError(`bunker jobs ${what} takes one NAME`);
  return name;
}

export async function jobsCommand(argv: string[], config: Config, print = console.log): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === "help" || sub === "--help") {
    print(JOBS_USAGE);
    return sub === undefined ? 2 : 0;
  }
  const f = parseJobsFlags(rest, config);
  switch (sub) {
    case "list": {
      if (f.positional.length > 0) throw new ValidationError("bunker jobs list takes no NAME");
      const { jobs } = (await call(f, "GET", "/system/jobs")) as { jobs: JobInfo[] };
      if (f.json) print(JSON.stringify(jobs, null, 2));
      else if (jobs.length === 0) print("no scheduled functions");
      else {
        const rows = jobs.map((j) => [
          j.name,
          j.crons.join(" | "),
          j.timeZone,
          j.enabled ? (j.next ?? "never") : "disabled",
          j.last ? `${j.last.scheduledAt} ${j.last.state}` : "-",
        ]);
        print(table([["NAME", "CRON", "TIME ZONE", "NEXT", "LAST"], ...rows]));
      }
      return 0;
    }
    case "next": {
      const name = oneName(f, "next");
      const path = `/system/jobs/${encodeURIComponent(name)}/next?n=${f.n}`;
      const { next } = (await call(f, "GET", path)) as { next: string[] };
      print(f.json ? JSON.stringify(next) : next.join("\n"));
      return 0;
    }
    case "trigger": {
      const name = oneName(f, "trigger");
      const report = (await call(
        f,
        "POST",
        `/system/jobs/${encodeURIComponent(name)}/trigger`,
      )) as FireReport;
      print(
        f.json ? JSON.stringify(report) : `${report.result} ${name} invocation ${report.invocationId ?? "-"}`,
      );
      return report.result === "started" ? 0 : 1;
    }
    default:
      throw new ValidationError(`unknown jobs command "${sub}"; ${JOBS_USAGE}`);
  }
}
