import type { InvocationRecord } from "../../invoke/record.ts";
import { schedulerFor } from "../../schedule/index.ts";
import type { Scheduler } from "../../schedule/scheduler.ts";
import type { Db } from "../../store/db.ts";
import type { GatewayDeps } from "../deps.ts";
import type { DashboardData } from "./data.ts";

/**
 * What the dashboard reads beyond GatewayDeps. `db` (the records database) and `jobs` are
 * optional until GatewayDeps carries them; without `db` the aggregates come from memory.
 */
export type UiDeps = GatewayDeps & { db?: Db; jobs?: Scheduler; dashboard?: DashboardData };

export interface Ui {
  deps: UiDeps;
  data: DashboardData;
  scheduler(): Scheduler | undefined;
  /** Newest first, at most `limit`, from the same reader as /system/invocations. */
  list(q: {
    function?: string;
    status?: InvocationRecord["status"];
    limit?: number;
  }): Promise<InvocationRecord[]>;
}

export function uiContext(deps: UiDeps, data: DashboardData): Ui {
  return {
    deps,
    data,
    scheduler: () => deps.jobs ?? schedulerFor(deps.invoker),
    list: (q) =>
      deps.invocations.list({
        limit: q.limit ?? 1000,
        ...(q.function === undefined ? {} : { function: q.function }),
        ...(q.status === undefined ? {} : { status: q.status }),
      }),
  };
}
