import type { Context } from "hono";
import type { UiEnv } from "../auth.ts";
import { Chart, Layout, Scroll, Tile } from "../components.tsx";
import type { Ui } from "../context.ts";
import { count, epochRange, ms, pct, rangeOf } from "../format.ts";
import { page } from "../render.ts";

export async function overviewPage(c: Context<UiEnv>, ui: Ui, signedIn: boolean) {
  const range = rangeOf("1h");
  const [t, perFn, series] = await Promise.all([
    ui.data.totals(range),
    ui.data.functionTotals(range),
    ui.data.latency(range, range.bucket),
  ]);
  const fp = ui.deps.fingerprint();
  const adm = ui.deps.invoker.admission;
  const byErrors = [...perFn].filter((f) => f.failed > 0).sort((a, b) => b.failed - a.failed);
  return page(
    c,
    <Layout title="Overview" section="/ui" signedIn={signedIn} scripts={["charts"]}>
      <p>
        Driver <code>exec</code>:{" "}
        <span class={`badge ${fp.health === "healthy" ? "ok" : "bad"}`} id="driver-health">
          {fp.health}
        </span>{" "}
        {fp.description} · data:{" "}
        {ui.data.source === "store" ? "records (SQL)" : "recent invocations in memory"}
      </p>
      <section aria-labelledby="last-hour">
        <h2 id="last-hour">Last hour</h2>
        <div class="grid">
          <Tile label="Invocations / min" value={(t.total / 60).toFixed(2)} note={`${t.total} in the hour`} />
          <Tile label="Error rate" value={pct(t.failed, t.finished)} note={`${t.failed} failed`} />
          <Tile label="p99 duration" value={ms(t.p99Ms)} note={`p50 ${ms(t.p50Ms)}`} />
          <Tile
            label="Cold starts"
            value={pct(t.cold, t.warmKnown)}
            note={t.warmKnown === 0 ? "not recorded" : `${t.cold} of ${t.warmKnown}`}
          />
          <Tile label="Running now" value={`${adm.total} / ${adm.globalLimit}`} note="of the global limit" />
          <Tile label="Queued" value={String(t.queued)} note="async, not started" />
          <Tile label="Throttled" value={String(adm.throttled)} note="429s since start" />
        </div>
      </section>
      <Chart
        id="overview-calls"
        title="Invocations per minute (all functions)"
        unit="calls"
        x={series.map((p) => p.t)}
        series={[
          { label: "invocations", values: series.map((p) => p.count) },
          { label: "errors", values: series.map((p) => p.errors) },
        ]}
        range={epochRange(range)}
        format={count}
      />
      <div class="cols">
        <section aria-labelledby="top-calls">
          <h2 id="top-calls">Top functions by invocations</h2>
          <TopTable rows={perFn.slice(0, 5).map((f) => [f.function, f.total, ms(f.p99Ms)])} third="p99" />
        </section>
        <section aria-labelledby="top-errors">
          <h2 id="top-errors">Top functions by errors</h2>
          <TopTable
            rows={byErrors.slice(0, 5).map((f) => [f.function, f.failed, pct(f.failed, f.finished)])}
            third="error rate"
          />
        </section>
      </div>
    </Layout>,
  );
}

function TopTable(p: { rows: [string, number, string][]; third: string }) {
  if (p.rows.length === 0) return <p class="muted">None in the last hour.</p>;
  return (
    <Scroll label="top functions">
      <table>
        <thead>
          <tr>
            <th scope="col">Function</th>
            <th scope="col" class="num">
              Count
            </th>
            <th scope="col" class="num">
              {p.third}
            </th>
          </tr>
        </thead>
        <tbody>
          {p.rows.map(([fn, n, x]) => (
            <tr>
              <td>
                <a href={`/ui/functions/${encodeURIComponent(fn)}`}>{fn}</a>
              </td>
              <td class="num">{n}</td>
              <td class="num">{x}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </Scroll>
  );
}
