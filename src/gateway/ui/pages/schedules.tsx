import type { Context } from "hono";
import type { UiEnv } from "../auth.ts";
import { Layout, Scroll, Status } from "../components.tsx";
import type { Ui } from "../context.ts";
import { inZone } from "../format.ts";
import { page } from "../render.ts";

export async function schedulesPage(c: Context<UiEnv>, ui: Ui, signedIn: boolean) {
  const scheduler = ui.scheduler();
  const flash = c.req.query("done");
  if (!scheduler) {
    return page(
      c,
      <Layout title="Schedules" section="/ui/schedules" signedIn={signedIn}>
        <p class="notice">The scheduler does not run on this server.</p>
      </Layout>,
    );
  }
  const jobs = await scheduler.jobs();
  const details = await Promise.all(jobs.map((j) => scheduler.job(j.name)));
  return page(
    c,
    <Layout title="Schedules" section="/ui/schedules" signedIn={signedIn}>
      {flash && (
        <p class="notice" role="status">
          {flash}
        </p>
      )}
      {jobs.length === 0 && <p class="muted">No function has a schedule.</p>}
      {details.map((j) => {
        const next = j.enabled ? scheduler.next(j.name, 5) : [];
        const id = `job-${j.name}`;
        return (
          <section aria-labelledby={id}>
            <h2 id={id}>
              <a href={`/ui/functions/${encodeURIComponent(j.name)}`}>{j.name}</a>{" "}
              <span class={`badge ${j.enabled ? "ok" : "muted"}`}>{j.enabled ? "enabled" : "disabled"}</span>
            </h2>
            <p>
              <code>{j.crons.join(", ")}</code> in {j.timeZone} · overlap {j.overlap} · catch-up {j.catchUp}
            </p>
            <form method="post" action={`/ui/schedules/${encodeURIComponent(j.name)}/trigger`}>
              <button type="submit">Trigger {j.name} now</button>
            </form>
            <div class="cols">
              <div>
                <h3>Next runs ({j.timeZone})</h3>
                {next.length === 0 ? (
                  <p class="muted">None.</p>
                ) : (
                  <ol>
                    {next.map((t) => (
                      <li>
                        <time datetime={t}>{inZone(t, j.timeZone)}</time>
                      </li>
                    ))}
                  </ol>
                )}
              </div>
              <div>
                <h3>Last runs</h3>
                {j.runs.length === 0 ? (
                  <p class="muted">None yet.</p>
                ) : (
                  <Scroll label={`last runs of ${j.name}`}>
                    <table>
                      <thead>
                        <tr>
                          <th scope="col">Scheduled ({j.timeZone})</th>
                          <th scope="col">Kind</th>
                          <th scope="col">State</th>
                          <th scope="col">Outcome</th>
                        </tr>
                      </thead>
                      <tbody>
                        {j.runs.slice(0, 10).map((r) => (
                          <tr>
                            <td>
                              {r.invocationId ? (
                                <a href={`/ui/invocations/${encodeURIComponent(r.invocationId)}`}>
                                  {inZone(r.scheduledAt, j.timeZone)}
                                </a>
                              ) : (
                                inZone(r.scheduledAt, j.timeZone)
                              )}
                            </td>
                            <td>{r.kind}</td>
                            <td>
                              <Status status={r.state} />
                            </td>
                            <td>
                              {r.outcome ?? "—"}
                              {r.exitCode !== null ? ` (exit ${r.exitCode})` : ""}
                              {r.error ? ` ${r.error}` : ""}
                            </td>
                          </tr>
                        ))}
                      </tbody>
                    </table>
                  </Scroll>
                )}
              </div>
            </div>
          </section>
        );
      })}
    </Layout>,
  );
}
