import type { Context } from "hono";
import { streamSSE } from "hono/streaming";
import type { InvocationRecord, InvocationStatus } from "../../../invoke/record.ts";
import { InvocationStatusSchema } from "../../schemas.ts";
import type { UiEnv } from "../auth.ts";
import { Layout, Scroll, Status } from "../components.tsx";
import type { Ui } from "../context.ts";
import { ms, when } from "../format.ts";
import { fragment, page } from "../render.ts";

const STATUSES: InvocationStatus[] = [...InvocationStatusSchema.options];
const REASONS = ["exited", "signaled", "timeout", "oom", "stopped", "setup_failed"];
const SINCE: Record<string, number> = { "15m": 900, "1h": 3600, "24h": 86_400, "7d": 604_800 };

interface Filter {
  function?: string;
  status?: InvocationStatus;
  reason?: string;
  since?: string;
}

function filterOf(c: Context): Filter {
  const f: Filter = {};
  const fn = c.req.query("function");
  if (fn) f.function = fn;
  const status = c.req.query("status");
  if (status && (STATUSES as string[]).includes(status)) f.status = status as InvocationStatus;
  const reason = c.req.query("reason");
  if (reason && REASONS.includes(reason)) f.reason = reason;
  const since = c.req.query("since");
  if (since && since in SINCE) f.since = since;
  return f;
}

function query(f: Filter): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(f)) if (v) p.set(k, String(v));
  return p.toString();
}

async function rows(ui: Ui, f: Filter): Promise<InvocationRecord[]> {
  const list = await ui.list({
    limit: 1000,
    ...(f.function === undefined ? {} : { function: f.function }),
    ...(f.status === undefined ? {} : { status: f.status }),
  });
  const after = f.since === undefined ? 0 : Date.now() - (SINCE[f.since] ?? 0) * 1000;
  return list
    .filter((r) => (f.reason === undefined || r.reason === f.reason) && Date.parse(r.createdAt) >= after)
    .slice(0, 200);
}

export function InvocationRows(p: { rows: InvocationRecord[] }) {
  if (p.rows.length === 0) {
    return (
      <tr>
        <td colspan={7} class="muted">
          No invocations match.
        </td>
      </tr>
    );
  }
  return (
    <>
      {p.rows.map((r) => (
        <tr>
          <td class="mono">
            <a href={`/ui/invocations/${encodeURIComponent(r.id)}`}>{r.id}</a>
          </td>
          <td>
            <a href={`/ui/functions/${encodeURIComponent(r.function)}`}>{r.function}</a>
          </td>
          <td>
            <Status status={r.status} />
          </td>
          <td>{r.reason ?? "—"}</td>
          <td class="num">{r.exitCode ?? "—"}</td>
          <td class="num">{ms(r.durationMs)}</td>
          <td>{when(r.createdAt)}</td>
        </tr>
      ))}
    </>
  );
}

function Select(p: { id: string; label: string; value: string | undefined; options: string[] }) {
  return (
    <div>
      <label for={p.id}>{p.label}</label>
      <select id={p.id} name={p.id}>
        <option value="">any</option>
        {p.options.map((o) => (
          <option value={o} selected={o === p.value}>
            {o}
          </option>
        ))}
      </select>
    </div>
  );
}

export async function invocationsPage(c: Context<UiEnv>, ui: Ui, signedIn: boolean) {
  const f = filterOf(c);
  const list = await rows(ui, f);
  const fns = ui.deps.functions.list().map((s) => s.name);
  return page(
    c,
    <Layout title="Invocations" section="/ui/invocations" signedIn={signedIn}>
      <form class="filters" method="get" action="/ui/invocations">
        <Select id="function" label="Function" value={f.function} options={fns} />
        <Select id="status" label="State" value={f.status} options={STATUSES} />
        <Select id="reason" label="Reason" value={f.reason} options={REASONS} />
        <Select id="since" label="Queued within" value={f.since} options={Object.keys(SINCE)} />
        <button type="submit">Filter</button>
      </form>
      <p id="live-status" class="muted" aria-live="polite">
        Newest first; updates live.
      </p>
      <Scroll label="invocations">
        <table id="invocations-table">
          <thead>
            <tr>
              <th scope="col">Id</th>
              <th scope="col">Function</th>
              <th scope="col">State</th>
              <th scope="col">Reason</th>
              <th scope="col" class="num">
                Exit
              </th>
              <th scope="col" class="num">
                Duration
              </th>
              <th scope="col">Queued</th>
            </tr>
          </thead>
          <tbody data-sse={`/ui/invocations/stream?${query(f)}`}>
            <InvocationRows rows={list} />
          </tbody>
        </table>
      </Scroll>
    </Layout>,
  );
}

/** Server-sent events: the table body again whenever a row appears or changes state. */
export function invocationStream(c: Context<UiEnv>, ui: Ui) {
  const f = filterOf(c);
  return streamSSE(c, async (stream) => {
    let last = "";
    let stop = false;
    stream.onAbort(() => {
      stop = true;
    });
    while (!stop) {
      const list = await rows(ui, f);
      const sig = list.map((r) => `${r.id}:${r.status}`).join(",");
      if (sig !== last) {
        last = sig;
        await stream.writeSSE({ event: "rows", data: await fragment(<InvocationRows rows={list} />) });
      }
      await stream.sleep(1000);
    }
  });
}
