/** Pieces every page uses: the frame with landmarks and navigation, charts with their data tables. */
import type { Child, FC, PropsWithChildren } from "hono/jsx";
import { assetUrls } from "./assets.ts";

export const NAV = [
  ["/ui", "Overview"],
  ["/ui/functions", "Functions"],
  ["/ui/invocations", "Invocations"],
  ["/ui/schedules", "Schedules"],
  ["/ui/node", "Node"],
] as const;

export interface LayoutProps {
  title: string;
  /** Which NAV entry is current. */
  section: string;
  signedIn?: boolean;
  scripts?: ("charts" | "terminal" | "htmx")[];
}

export const Layout: FC<PropsWithChildren<LayoutProps>> = (p) => {
  const a = assetUrls();
  const scripts = new Set(p.scripts ?? []);
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{`${p.title} · Bunker`}</title>
        <link rel="stylesheet" href={a.appCss} />
        {scripts.has("charts") && <link rel="stylesheet" href={a.uplotCss} />}
        {scripts.has("terminal") && <link rel="stylesheet" href={a.xtermCss} />}
        {scripts.has("htmx") && <script src={a.htmx} defer />}
        {scripts.has("charts") && <script src={a.uplotJs} defer />}
        {scripts.has("terminal") && <script src={a.xtermJs} defer />}
        {scripts.has("terminal") && <script src={a.fitJs} defer />}
        <script src={a.appJs} defer />
      </head>
      <body>
        <a class="skip" href="#main">
          Skip to content
        </a>
        <header class="top">
          <a class="brand" href="/ui">
            Bunker
          </a>
          <nav aria-label="Main">
            <ul>
              {NAV.map(([href, label]) => (
                <li>
                  <a href={href} aria-current={p.section === href ? "page" : undefined}>
                    {label}
                  </a>
                </li>
              ))}
            </ul>
          </nav>
          {p.signedIn && (
            <form method="post" action="/ui/logout">
              <button type="submit" class="secondary">
                Sign out
              </button>
            </form>
          )}
        </header>
        <main id="main">
          <h1>{p.title}</h1>
          {p.children}
        </main>
      </body>
    </html>
  );
};

/** JSON for the client script; "<" is escaped so the data can never close the script element. */
export function jsonScript(value: unknown): string {
  return JSON.stringify(value).replaceAll("<", "\\u003c");
}

export interface ChartProps {
  id: string;
  title: string;
  unit: string;
  /** Bucket starts in epoch seconds. */
  x: number[];
  series: { label: string; values: (number | null)[] }[];
  format: (v: number | null) => string;
  /** The x axis in epoch seconds, so a single point is placed in its range. */
  range?: [number, number];
  empty?: string;
}

/** A uPlot line chart drawn by app.js, with the same numbers in a table for everyone else. */
export const Chart: FC<ChartProps> = (p) => {
  const spec = {
    range: p.range ?? null,
    unit: p.unit,
    series: p.series.map((s) => s.label),
    data: [p.x, ...p.series.map((s) => s.values)],
  };
  return (
    <figure data-chart={p.id} id={p.id} aria-labelledby={`${p.id}-title`}>
      <figcaption id={`${p.id}-title`}>{p.title}</figcaption>
      {p.x.length === 0 ? (
        <p class="muted">{p.empty ?? "No data in this range yet."}</p>
      ) : (
        <>
          <div
            class="chart"
            role="img"
            aria-label={`${p.title}: chart of ${p.x.length} points; the data table follows`}
          />
          <script type="application/json" dangerouslySetInnerHTML={{ __html: jsonScript(spec) }} />
          <details>
            <summary>Data table</summary>
            <section class="scroll" tabindex={0} aria-label={`${p.title} data`}>
              <table>
                <thead>
                  <tr>
                    <th scope="col">Time (UTC)</th>
                    {p.series.map((s) => (
                      <th scope="col" class="num">
                        {s.label}
                      </th>
                    ))}
                  </tr>
                </thead>
                <tbody>
                  {p.x.map((t, i) => (
                    <tr>
                      <td>{new Date(t * 1000).toISOString().slice(0, 16).replace("T", " ")}</td>
                      {p.series.map((s) => (
                        <td class="num">{p.format(s.values[i] ?? null)}</td>
                      ))}
                    </tr>
                  ))}
                </tbody>
              </table>
            </section>
          </details>
        </>
      )}
    </figure>
  );
};

/** Horizontal bars (server-drawn), labelled with their counts, which are the data table. */
export const Bars: FC<{ title: string; items: { label: string; value: number; bad?: boolean }[] }> = (p) => {
  const max = Math.max(1, ...p.items.map((i) => i.value));
  return (
    <figure>
      <figcaption>{p.title}</figcaption>
      {p.items.length === 0 ? (
        <p class="muted">Nothing finished in this range yet.</p>
      ) : (
        <ul class="bars">
          {p.items.map((i) => (
            <li>
              <span>{i.label}</span>
              <span
                class={i.bad ? "bar bad" : "bar"}
                style={`width:${((i.value / max) * 100).toFixed(1)}%`}
                aria-hidden="true"
              />
              <span class="num">{i.value}</span>
            </li>
          ))}
        </ul>
      )}
    </figure>
  );
};

/** Success per bucket as a tiny SVG: green where all ran well, red with failures, grey without runs. */
export const Sparkline: FC<{ buckets: { total: number; failed: number }[]; label: string }> = (p) => {
  const w = 4;
  return (
    <svg class="spark" width={p.buckets.length * w} height="16" role="img" aria-label={p.label}>
      {p.buckets.map((b, i) => (
        <rect
          x={i * w}
          y={b.total === 0 ? 12 : 2}
          width={w - 1}
          height={b.total === 0 ? 4 : 14}
          fill={b.total === 0 ? "#c9ccd1" : b.failed > 0 ? "#b3261e" : "#136c2e"}
        />
      ))}
    </svg>
  );
};

export const Tile: FC<{ label: string; value: Child; note?: Child }> = (p) => (
  <div class="tile">
    <div class="label">{p.label}</div>
    <div class="value">{p.value}</div>
    {p.note !== undefined && <div class="muted">{p.note}</div>}
  </div>
);

const STATUS_CLASS: Record<string, string> = {
  succeeded: "ok",
  running: "warn",
  queued: "warn",
  failed: "bad",
  timeout: "bad",
  error: "bad",
  cancelled: "muted",
};

export const Status: FC<{ status: string }> = (p) => (
  <span class={`badge ${STATUS_CLASS[p.status] ?? ""}`}>{p.status}</span>
);

export const Scroll: FC<PropsWithChildren<{ label: string }>> = (p) => (
  // A named section is a region: scrollable content must be reachable by keyboard.
  <section class="scroll" tabindex={0} aria-label={p.label}>
    {p.children}
  </section>
);
