import type { Context } from "hono";
import type { FunctionSpec } from "../../../functions/spec.ts";
import type { UiEnv } from "../auth.ts";
import { Layout, Scroll, Sparkline } from "../components.tsx";
import type { Ui } from "../context.ts";
import type { FunctionTotals } from "../data.ts";
import { ms, pct, when } from "../format.ts";
import { page } from "../render.ts";

const COLUMNS = [
  ["name", "Function"],
  ["success", "Success"],
  ["calls", "Invocations 24 h"],
  ["p50", "p50"],
  ["p99", "p99"],
  ["cold", "Cold"],
  ["busy", "Busy / max"],
  ["last", "Last invoked"],
] as const;
type SortKey = (typeof COLUMNS)[number][0];

interface Row {
  spec: FunctionSpec;
  stats: FunctionTotals | undefined;
  buckets: { total: number; failed: number }[];
  busy: number;
}

function sortValue(r: Row, key: SortKey): number | string {
  const s = r.stats;
  switch (key) {
    case "name":
      return r.spec.name;
    case "success":
      return s && s.finished > 0 ? 1 - s.failed / s.finished : -1;
    case "calls":
      return s?.total ?? 0;
    case "p50":
      return s?.p50Ms ?? -1;
    case "p99":
      return s?.p99Ms ?? -1;
    case "cold":
      return s && s.warmKnown > 0 ? s.cold / s.warmKnown : -1;
    case "busy":
      return r.busy;
    case "last":
      return s?.lastQueuedAt?.getTime() ?? 0;
  }
}

export async function functionsPage(c: Context<UiEnv>, ui: Ui, signedIn: boolean) {
  const q = (c.req.query("q") ?? "").trim().toLowerCase();
  const sortIn = c.req.query("sort");
  const sort: SortKey = COLUMNS.some(([k]) => k === sortIn) ? (sortIn as SortKey) : "name";
  const dir = c.req.query("dir") === "desc" ? "desc" : "asc";
  const until = new Date(Date.now() + 1000);
  const range = { since: new Date(until.getTime() - 86_400_000), until };
  const bucketSec = 3600;
  const [stats, buckets] = await Promise.all([
    ui.data.functionTotals(range),
    ui.data.statusBuckets(range, bucketSec),
  ]);
  const firstBucket = Math.floor(range.since.getTime() / 1000 / bucketSec) * bucketSec;
  const rows: Row[] = ui.deps.functions
    .list()
    .filter((f) => q === "" || f.name.includes(q) || (f.description ?? "").toLowerCase().includes(q))
    .map((spec) => {
      const spark = Array.from({ length: 24 }, (_, i) => {
        const b = buckets.find((x) => x.function === spec.name && x.t === firstBucket + (i + 1) * bucketSec);
        return { total: b?.total ?? 0, failed: b?.failed ?? 0 };
      });
      return {
        spec,
        stats: stats.find((s) => s.function === spec.name),
        buckets: spark,
        busy: ui.deps.invoker.admission.inflight(spec.name),
      };
    });
  rows.sort((a, b) => {
    const x = sortValue(a, sort);
    const y = sortValue(b, sort);
    const cmp = typeof x === "string" ? x.localeCompare(String(y)) : x - (y as number);
    return dir === "asc" ? cmp : -cmp;
  });
  const link = (key: SortKey) => {
    const p = new URLSearchParams();
    if (q) p.set("q", q);
    p.set("sort", key);
    p.set("dir", sort === key && dir === "asc" ? "desc" : "asc");
    return `/ui/functions?${p}`;
  };
  return page(
    c,
    <Layout title="Functions" section="/ui/functions" signedIn={signedIn}>
      <form class="filters" method="get" action="/ui/functions">
        <div>
          <label for="q">Filter by name or description</label>
          <input id="q" name="q" type="search" value={q} />
        </div>
        <input type="hidden" name="sort" value={sort} />
        <input type="hidden" name="dir" value={dir} />
        <button type="submit">Filter</button>
      </form>
      <Scroll label="functions">
        <table id="functions-table">
          <caption class="muted">
            {rows.length} functions · sorted by {sort} ({dir === "asc" ? "ascending" : "descending"})
          </caption>
          <thead>
            <tr>
              {COLUMNS.map(([key, label]) => (
                <th
                  scope="col"
                  aria-sort={sort === key ? (dir === "asc" ? "ascending" : "descending") : undefined}
                  class={key === "name" || key === "last" ? undefined : "num"}
                >
                  <a href={link(key)}>{label}</a>
                </th>
              ))}
              <th scope="col">Schedule</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => {
              const s = r.stats;
              const sched = r.spec.schedule;
              return (
                <tr>
                  <td>
                    <a href={`/ui/functions/${encodeURIComponent(r.spec.name)}`}>{r.spec.name}</a>
                    {r.spec.description && <div class="muted">{r.spec.description}</div>}
                  </td>
                  <td class="num">
                    {s ? pct(s.finished - s.failed, s.finished) : "—"}{" "}
                    <Sparkline
                      buckets={r.buckets}
                      label={`${r.spec.name}: runs per hour, red where some failed`}
                    />
                  </td>
                  <td class="num">{s?.total ?? 0}</td>
                  <td class="num">{ms(s?.p50Ms)}</td>
                  <td class="num">{ms(s?.p99Ms)}</td>
                  <td class="num">{s && s.warmKnown > 0 ? pct(s.cold, s.warmKnown) : "—"}</td>
                  <td class="num">
                    {r.busy} / {r.spec.maxInflight}
                  </td>
                  <td>{when(s?.lastQueuedAt ?? null)}</td>
                  <td>
                    {sched ? (
                      <code>{`${(sched.crons ?? (sched.cron === undefined ? [] : [sched.cron])).join(", ")} (${sched.time_zone})`}</code>
                    ) : (
                      "—"
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </Scroll>
    </Layout>,
  );
}
