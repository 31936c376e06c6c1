import type { Context } from "hono";
import type { UiEnv } from "../auth.ts";
import { Bars, Chart, Layout, Tile } from "../components.tsx";
import type { Ui } from "../context.ts";
import { bytes, count, epochRange, ms, pct, RANGES, rangeOf } from "../format.ts";
import { page } from "../render.ts";

const OUTCOME_LABEL: Record<string, string> = {
  exited: "exited 0",
  "non-zero": "non-zero exit",
  signaled: "signaled",
  timeout: "timeout",
  oom: "OOM killed",
  setup_failed: "setup failed",
  stopped: "stopped",
  lost: "lost",
};

export interface InvokeResult {
  status: number;
  durationMs: number;
  headers: [string, string][];
  body: string;
  truncated: boolean;
}

export function InvokeResultView(p: { result: InvokeResult | null; error?: string }) {
  return (
    <div id="invoke-result" aria-live="polite">
      {p.error && <p class="error">{p.error}</p>}
      {p.result && (
        <>
          <dl class="kv">
            <dt>Status</dt>
            <dd>
              <span class={`badge ${p.result.status < 400 ? "ok" : "bad"}`} id="invoke-status">
                {p.result.status}
              </span>
            </dd>
            <dt>Duration</dt>
            <dd>{ms(p.result.durationMs)}</dd>
            {p.result.headers.map(([k, v]) => (
              <>
                <dt>{k}</dt>
                <dd>
                  {k === "x-call-id" ? <a href={`/ui/invocations/${encodeURIComponent(v)}`}>{v}</a> : v}
                </dd>
              </>
            ))}
          </dl>
          <h3>Response{p.result.truncated ? " (first 64 KiB)" : ""}</h3>
          <pre id="invoke-output">{p.result.body}</pre>
        </>
      )}
    </div>
  );
}

export async function functionPage(c: Context<UiEnv>, ui: Ui, signedIn: boolean) {
  const name = c.req.param("name") ?? "";
  const spec = ui.deps.functions.get(name);
  if (!spec) {
    return page(
      c,
      <Layout title="Function not found" section="/ui/functions" signedIn={signedIn}>
        <p>
          There is no function named <code>{name}</code>. <a href="/ui/functions">All functions</a>
        </p>
      </Layout>,
      404,
    );
  }
  const range = rangeOf(c.req.query("range"));
  const [t, latency, outcomes, cold, usage] = await Promise.all([
    ui.data.functionTotals(range).then((all) => all.find((f) => f.function === name)),
    ui.data.latency(range, range.bucket, name),
    ui.data.outcomes(range, name),
    ui.data.coldStarts(range, name),
    ui.data.usage(range, range.bucket, name),
  ]);
  const memLimit = (spec.task.resources.memoryMax ?? spec.task.resources.memory) * 1024 * 1024;
  return page(
    c,
    <Layout
      title={`Function ${name}`}
      section="/ui/functions"
      signedIn={signedIn}
      scripts={["charts", "htmx"]}
    >
      {spec.description && <p>{spec.description}</p>}
      <nav aria-label="Range" class="filters">
        <span>Range:</span>
        {Object.keys(RANGES).map((r) => (
          <a href={`?range=${r}`} aria-current={r === range.name ? "true" : undefined}>
            {r === range.name ? <strong>{r}</strong> : r}
          </a>
        ))}
        <a href={`/ui/invocations?function=${encodeURIComponent(name)}`}>Invocations of {name}</a>
      </nav>
      <div class="grid">
        <Tile label="Invocations" value={String(t?.total ?? 0)} note={`in the last ${range.name}`} />
        <Tile
          label="Errors"
          value={pct(t?.failed ?? 0, t?.finished ?? 0)}
          note={`${t?.failed ?? 0} failed`}
        />
        <Tile label="p50 / p99" value={`${ms(t?.p50Ms)} / ${ms(t?.p99Ms)}`} />
        <Tile
          label="Cold starts"
          value={pct(cold.cold, cold.cold + cold.warm)}
          note={`${cold.cold} cold, ${cold.warm} warm · init ${ms(cold.initMsAvg)}`}
        />
        <Tile
          label="Busy / max inflight"
          value={`${ui.deps.invoker.admission.inflight(name)} / ${spec.maxInflight}`}
        />
      </div>
      <section aria-labelledby="invoke">
        <h2 id="invoke">Invoke</h2>
        <form
          method="post"
          action={`/ui/functions/${encodeURIComponent(name)}/invoke`}
          hx-post={`/ui/functions/${encodeURIComponent(name)}/invoke`}
          hx-target="#invoke-result"
          hx-swap="outerHTML"
          hx-disabled-elt="find button"
        >
          <label for="invoke-body">Body</label>
          <textarea id="invoke-body" name="body" rows={4} />
          <div class="filters">
            <div>
              <label for="invoke-type">Content type</label>
              <input id="invoke-type" name="contentType" value={spec.contentType} />
            </div>
          </div>
          <label for="invoke-headers">Headers (one "Name: value" per line)</label>
          <textarea id="invoke-headers" name="headers" rows={2} />
          <p>
            <button type="submit">Invoke {name}</button>
          </p>
        </form>
        <InvokeResultView result={null} />
      </section>
      <section aria-labelledby="metrics">
        <h2 id="metrics">Metrics</h2>
        <div class="cols">
          <Chart
            id="latency"
            title="Duration percentiles"
            unit="ms"
            x={latency.map((p) => p.t)}
            series={[
              { label: "p50", values: latency.map((p) => p.p50Ms) },
              { label: "p90", values: latency.map((p) => p.p90Ms) },
              { label: "p99", values: latency.map((p) => p.p99Ms) },
            ]}
            range={epochRange(range)}
            format={ms}
          />
          <Chart
            id="calls"
            title="Invocations and errors"
            unit="calls"
            x={latency.map((p) => p.t)}
            series={[
              { label: "invocations", values: latency.map((p) => p.count) },
              { label: "errors", values: latency.map((p) => p.errors) },
            ]}
            range={epochRange(range)}
            format={count}
          />
          <Bars
            title="Invocations by termination reason"
            items={outcomes.map((o) => ({
              label: OUTCOME_LABEL[o.outcome] ?? o.outcome,
              value: o.count,
              bad: o.outcome !== "exited",
            }))}
          />
          <Chart
            id="memory"
            title={`Peak memory against the ${bytes(memLimit)} limit`}
            unit="MiB"
            x={usage.map((p) => p.t)}
            series={[
              {
                label: "peak memory (MiB)",
                values: usage.map((p) =>
                  p.memoryPeakBytesMax === null ? null : p.memoryPeakBytesMax / 1048576,
                ),
              },
              { label: "limit (MiB)", values: usage.map(() => memLimit / 1048576) },
            ]}
            range={epochRange(range)}
            format={(v) => (v === null ? "—" : v.toFixed(1))}
            empty={
              ui.data.source === "store"
                ? "No usage recorded in this range yet."
                : "Usage needs the records database."
            }
          />
          <Chart
            id="cpu"
            title={`CPU time per run (reserved ${spec.task.resources.cpu} MHz)`}
            unit="ms"
            x={usage.map((p) => p.t)}
            series={[{ label: "CPU ms (mean)", values: usage.map((p) => p.cpuMsAvg) }]}
            range={epochRange(range)}
            format={ms}
            empty={
              ui.data.source === "store"
                ? "No usage recorded in this range yet."
                : "Usage needs the records database."
            }
          />
        </div>
      </section>
      <section aria-labelledby="definition">
        <h2 id="definition">Definition</h2>
        <p class="muted">
          {spec.source === "file" ? `From ${spec.path ?? "a file"} (read-only)` : "Defined through the API"} ·
          timeout {ms(spec.timeoutMs)} · max body {bytes(spec.maxBodyBytes)}
        </p>
        <pre>{JSON.stringify(spec.definition, null, 2)}</pre>
      </section>
    </Layout>,
  );
}
