import type { Context } from "hono";
import type { UiEnv } from "../auth.ts";
import { Layout, Scroll, Tile } from "../components.tsx";
import type { Ui } from "../context.ts";
import { page } from "../render.ts";

/** Gauges of the Prometheus text: `bunker_*` samples without labels. */
function gauges(text: string): [string, number][] {
  const out: [string, number][] = [];
  for (const line of text.split("\n")) {
    const m = /^(bunker_[a-zA-Z0-9_]+)(?:\{[^}]*\})?\s+([-+0-9.eE]+|NaN)$/.exec(line.trim());
    if (m?.[1] && m[2]) out.push([m[1], Number(m[2])]);
  }
  return out;
}

function group(key: string): string {
  if (key.startsWith("driver.") || key === "driver.exec") return "Driver";
  if (key.includes("cgroup")) return "Cgroups";
  if (key.includes("kernel") || key.startsWith("os.") || key.startsWith("unique.")) return "Kernel";
  if (key.includes("cap")) return "Capabilities";
  return "Other";
}

export async function nodePage(c: Context<UiEnv>, ui: Ui, signedIn: boolean) {
  const fp = ui.deps.fingerprint();
  const adm = ui.deps.invoker.admission;
  const metrics = ui.deps.metrics ? gauges(await ui.deps.metrics()) : [];
  const groups = new Map<string, [string, string][]>();
  for (const [k, v] of Object.entries(fp.attributes).sort(([a], [b]) => a.localeCompare(b))) {
    const g = group(k);
    groups.set(g, [...(groups.get(g) ?? []), [k, v]]);
  }
  return page(
    c,
    <Layout title="Node" section="/ui/node" signedIn={signedIn}>
      <div class="grid">
        <Tile
          label="driver.exec"
          value={
            <span class={fp.health === "healthy" ? "ok" : "bad"}>{fp.health === "healthy" ? "1" : "0"}</span>
          }
          note={fp.health}
        />
        <Tile label="Health" value={<span id="health-text">{fp.description}</span>} />
        <Tile label="Version" value={ui.deps.version} />
        <Tile
          label="Functions"
          value={String(ui.deps.functions.list().length)}
          note={`${(ui.deps.loadErrors ?? []).length} failed to load`}
        />
        <Tile label="Auth" value={ui.deps.tokens === null ? "open (loopback)" : "tokens"} />
      </div>
      <h2>Pool and queue</h2>
      <div class="grid">
        <div class="tile">
          <label for="g-inflight">Runs in flight (global limit {adm.globalLimit})</label>
          <meter id="g-inflight" min={0} max={adm.globalLimit} value={adm.total}>
            {adm.total}
          </meter>
          <div class="value">
            {adm.total} / {adm.globalLimit}
          </div>
        </div>
        {metrics.map(([name, value]) => (
          <div class="tile">
            <div class="label">{name}</div>
            <div class="value">{Number.isInteger(value) ? value : value.toFixed(2)}</div>
          </div>
        ))}
      </div>
      <h2>Fingerprint</h2>
      {[...groups].map(([g, attrs]) => (
        <section aria-label={g}>
          <h3>{g}</h3>
          <Scroll label={`${g} attributes`}>
            <table>
              <thead>
                <tr>
                  <th scope="col">Attribute</th>
                  <th scope="col">Value</th>
                </tr>
              </thead>
              <tbody>
                {attrs.map(([k, v]) => (
                  <tr>
                    <td class="mono">{k}</td>
                    <td class="mono">{v}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </Scroll>
        </section>
      ))}
      {(ui.deps.loadErrors ?? []).length > 0 && (
        <>
          <h2>Function files that did not load</h2>
          <ul>
            {(ui.deps.loadErrors ?? []).map((e) => (
              <li>
                <code>{e.path}</code>: {e.message}
              </li>
            ))}
          </ul>
        </>
      )}
    </Layout>,
  );
}
