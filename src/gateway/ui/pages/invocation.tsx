import type { Context } from "hono";
import type { InvocationRecord } from "../../../invoke/record.ts";
import type { UiEnv } from "../auth.ts";
import { Layout, Scroll, Status } from "../components.tsx";
import type { Ui } from "../context.ts";
import type { InvocationExtras, SpanView } from "../data.ts";
import { bytes, ms, when } from "../format.ts";
import { page } from "../render.ts";

const ORDER = ["admit", "acquire slot", "prepare root", "prepare", "spawn", "run", "collect", "store"];

/** Stage spans in pipeline order (the invocation's own root span first), each placed on one time axis. */
function Waterfall(p: { spans: SpanView[]; measured: boolean }) {
  if (p.spans.length === 0) return <p class="muted">No spans: the invocation has not started.</p>;
  const t0 = Math.min(...p.spans.map((s) => s.startMs));
  const t1 = Math.max(...p.spans.map((s) => s.endMs));
  const total = Math.max(t1 - t0, 0.001);
  const rank = (s: SpanView) => (s.parent === null || !ORDER.includes(s.name) ? -1 : ORDER.indexOf(s.name));
  const spans = [...p.spans].sort((a, b) => rank(a) - rank(b) || a.startMs - b.startMs);
  return (
    <figure aria-labelledby="waterfall-title">
      <figcaption id="waterfall-title">
        Span waterfall ({ms(total)})
        {p.measured ? "" : " — from the record's timestamps; stage spans need the records database"}
      </figcaption>
      <ol class="waterfall" id="waterfall">
        {spans.map((s) => (
          <li data-span={s.name}>
            <span>{s.name}</span>
            <span class="track" aria-hidden="true">
              <span
                class="span"
                style={`left:${(((s.startMs - t0) / total) * 100).toFixed(2)}%;width:${(((s.endMs - s.startMs) / total) * 100).toFixed(2)}%`}
              />
            </span>
            <span class="num">{ms(s.endMs - s.startMs)}</span>
          </li>
        ))}
      </ol>
      <details>
        <summary>Data table</summary>
        <Scroll label="spans">
          <table>
            <thead>
              <tr>
                <th scope="col">Span</th>
                <th scope="col" class="num">
                  Starts at (+ms)
                </th>
                <th scope="col" class="num">
                  Duration
                </th>
              </tr>
            </thead>
            <tbody>
              {spans.map((s) => (
                <tr>
                  <td>{s.name}</td>
                  <td class="num">{(s.startMs - t0).toFixed(2)}</td>
                  <td class="num">{ms(s.endMs - s.startMs)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </Scroll>
      </details>
    </figure>
  );
}

function Facts(p: { r: InvocationRecord; x: InvocationExtras }) {
  const { r, x } = p;
  return (
    <dl class="kv">
      <dt>Function</dt>
      <dd>
        <a href={`/ui/functions/${encodeURIComponent(r.function)}`}>{r.function}</a> ({r.mode}, attempt{" "}
        {r.attempts})
      </dd>
      <dt>State</dt>
      <dd>
        <Status status={r.status} />
      </dd>
      <dt>Reason</dt>
      <dd>{r.reason ?? "—"}</dd>
      <dt>Exit code</dt>
      <dd>{r.exitCode ?? "—"}</dd>
      <dt>Signal</dt>
      <dd>{r.signal ?? "—"}</dd>
      <dt>Queued</dt>
      <dd>{when(r.createdAt)}</dd>
      <dt>Started</dt>
      <dd>{when(r.startedAt)}</dd>
      <dt>Finished</dt>
      <dd>{when(r.finishedAt)}</dd>
      <dt>Duration</dt>
      <dd>{ms(r.durationMs)}</dd>
      <dt>Slot</dt>
      <dd>{x.warm === null ? "—" : x.warm ? "warm" : "cold"}</dd>
      <dt>Trace id</dt>
      <dd class="mono" id="trace-id">
        {r.traceId ?? "—"}
      </dd>
      {r.error && (
        <>
          <dt>Error</dt>
          <dd>{r.error}</dd>
        </>
      )}
    </dl>
  );
}

export async function invocationPage(c: Context<UiEnv>, ui: Ui, signedIn: boolean) {
  const id = c.req.param("id") ?? "";
  let r: InvocationRecord;
  try {
    r = await ui.deps.invocations.get(id);
  } catch {
    return page(
      c,
      <Layout title="Invocation not found" section="/ui/invocations" signedIn={signedIn}>
        <p>
          No invocation <code>{id}</code>. <a href="/ui/invocations">All invocations</a>
        </p>
      </Layout>,
      404,
    );
  }
  const x = await ui.data.extras(r);
  const live = r.status === "running";
  const flash = c.req.query("done");
  const enc = encodeURIComponent(r.id);
  return page(
    c,
    <Layout title={`Invocation ${r.id}`} section="/ui/invocations" signedIn={signedIn}>
      {flash && (
        <p class="notice" role="status">
          {flash}
        </p>
      )}
      {live && (
        <section aria-labelledby="controls">
          <h2 id="controls">Running</h2>
          <div class="filters">
            <form method="post" action={`/ui/invocations/${enc}/signal`} class="filters">
              <div>
                <label for="signal">Signal</label>
                <select id="signal" name="signal">
                  {["SIGTERM", "SIGINT", "SIGHUP", "SIGUSR1", "SIGUSR2", "SIGKILL"].map((s) => (
                    <option>{s}</option>
                  ))}
                </select>
              </div>
              <button type="submit">Send signal</button>
            </form>
            <form method="post" action={`/ui/invocations/${enc}/cancel`}>
              <button type="submit" class="danger">
                Cancel
              </button>
            </form>
            <a href={`/ui/invocations/${enc}/exec`}>Open a terminal (exec)</a>
          </div>
        </section>
      )}
      <div class="cols">
        <section aria-labelledby="facts">
          <h2 id="facts">Outcome</h2>
          <Facts r={r} x={x} />
        </section>
        <section aria-labelledby="usage">
          <h2 id="usage">Resource usage</h2>
          {x.usage ? (
            <dl class="kv">
              <dt>CPU user</dt>
              <dd>{ms(x.usage.cpuUserMs)}</dd>
              <dt>CPU system</dt>
              <dd>{ms(x.usage.cpuSystemMs)}</dd>
              <dt>Peak memory</dt>
              <dd>{bytes(x.usage.memoryPeakBytes)}</dd>
              <dt>Max RSS</dt>
              <dd>{bytes(x.usage.maxRssBytes)}</dd>
              <dt>Peak pids</dt>
              <dd>{x.usage.pidsPeak}</dd>
              <dt>CPU throttled</dt>
              <dd>{ms(x.usage.throttledMs)}</dd>
            </dl>
          ) : (
            <p class="muted">Not recorded{live ? " yet" : ""}.</p>
          )}
        </section>
      </div>
      <h2>Stages</h2>
      <Waterfall spans={x.spans} measured={x.measured} />
      <h2>Output</h2>
      <h3>stdout (tail)</h3>
      <pre id="stdout-tail">{x.stdoutTail ?? "—"}</pre>
      <h3>stderr (tail)</h3>
      <pre id="stderr-tail">{r.stderrTail ?? "—"}</pre>
    </Layout>,
  );
}

export async function execPage(c: Context<UiEnv>, ui: Ui, signedIn: boolean) {
  const id = c.req.param("id") ?? "";
  const command = c.req.query("command") || "/bin/sh";
  const r = await ui.deps.invocations.get(id).catch(() => undefined);
  const ws = `/ui/invocations/${encodeURIComponent(id)}/exec/ws?${new URLSearchParams({
    command: JSON.stringify(command.split(" ").filter((s) => s !== "")),
    tty: "true",
  })}`;
  return page(
    c,
    <Layout title={`Exec into ${id}`} section="/ui/invocations" signedIn={signedIn} scripts={["terminal"]}>
      <p>
        {r ? (
          <>
            <a href={`/ui/invocations/${encodeURIComponent(id)}`}>{r.function}</a> is{" "}
            <Status status={r.status} />.
          </>
        ) : (
          "Unknown invocation."
        )}{" "}
        The terminal runs <code>{command}</code> inside the task (Nomad <code>alloc exec</code>).
      </p>
      <form method="get" class="filters">
        <div>
          <label for="command">Command</label>
          <input id="command" name="command" value={command} />
        </div>
        <button type="submit">Reconnect</button>
      </form>
      <p id="exec-status" role="status" class="muted">
        Connecting…
      </p>
      <section aria-label="Terminal">
        <div id="terminal" data-ws={ws} />
      </section>
    </Layout>,
  );
}
