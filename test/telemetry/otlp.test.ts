/**
 * Telemetry end to end on a real `bunker serve`: spans exported by OTLP/HTTP
 * (JSON) to a receiver on loopback, with FaaS attributes and stage children;
 * the caller's traceparent honoured; /metrics valid Prometheus text with the
 * FaaS series; and the spans in the store the same as the exported ones.
 */
import { afterAll, expect, test } from "bun:test";
import { spanRows, spans as spansTable } from "../../db/schema.ts";
import { openDatabase } from "../../src/store/db.ts";
import { dataDir, functionsDir, removeDataDirs, type ServeProcess, startServe } from "../records/helpers.ts";
import { createScratchDatabase, removeTempDirs, tempDir, waitFor } from "../store/helpers.ts";

afterAll(() => {
  removeDataDirs();
  removeTempDirs();
});

interface OtlpValue {
  stringValue?: string;
  intValue?: string | number;
  boolValue?: boolean;
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: { key: string; value: OtlpValue }[];
}

function attr(span: OtlpSpan, key: string): unknown {
  const v = span.attributes.find((a) => a.key === key)?.value;
  if (!v) return undefined;
  if (v.intValue !== undefined) return Number(v.intValue);
  return v.stringValue ?? v.boolValue;
}

/** name{labels} value lines; throws on a line that is not Prometheus text. */
function parsePrometheus(text: string): { name: string; labels: Record<string, string>; value: number }[] {
  const out: { name: string; labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (-?[0-9.eE+-]+|NaN|\+Inf|-Inf)( \d+)?$/.exec(line);
    if (!m) throw new Error(`not Prometheus text: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (m[3] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[pair[1] ?? ""] = pair[2] ?? "";
    }
    out.push({ name: m[1] ?? "", labels, value: Number(m[4]) });
  }
  return out;
}

const root = process.getuid?.() === 0;
if (!root) console.log("skip otlp.test.ts: the exec driver needs root to run tasks");

test.skipIf(!root)(
  "invocation spans reach OTLP and the store alike; /metrics has the FaaS series",
  async () => {
    const exported: OtlpSpan[] = [];
    let metricPosts = 0;
    const receiver = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      async fetch(req) {
        const path = new URL(req.url).pathname;
        if (path === "/v1/traces") {
          const body = (await req.json()) as {
            resourceSpans: { scopeSpans: { spans: OtlpSpan[] }[] }[];
          };
          for (const rs of body.resourceSpans) for (const ss of rs.scopeSpans) exported.push(...ss.spans);
        } else if (path === "/v1/metrics") {
          metricPosts += 1;
        }
        return Response.json({});
      },
    });
    const scratch = await createScratchDatabase();
    const fns = functionsDir({
      "otel-echo": { command: "/bin/echo", args: ["hi"], timeout: "10s", pool: { min: 2, max: 3 } },
    });
    const database = await openDatabase({ url: scratch.url, dataDir: tempDir("otel-reader") });
    let server: ServeProcess | undefined;
    try {
      server = await startServe({
        functions: fns,
        databaseUrl: scratch.url,
        dataDir: dataDir("otel"),
        env: {
          OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${receiver.port}`,
          OTEL_METRIC_EXPORT_INTERVAL: "500",
          // The warm pool on: faas.coldstart must tell warm runs from cold ones.
          BUNKER_POOL_MIN: "1",
        },
      });
      const callerTrace = "0af7651916cd43dd8448eb211c80319c";
      const callerSpan = "b7ad6b7169203331";
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) {
        const headers: Record<string, string> =
          i === 0 ? { traceparent: `00-${callerTrace}-${callerSpan}-01` } : {};
        const res = await fetch(`${server.url}/function/otel-echo`, { method: "POST", headers });
        expect(res.status).toBe(200);
        expect(await res.text()).toBe("hi\n");
        ids.push(res.headers.get("x-call-id") ?? "");
      }

      const metrics = parsePrometheus(await (await fetch(`${server.url}/metrics`)).text());
      const series = (name: string) =>
        metrics.filter((m) => m.labels.faas_invoked_name === "otel-echo" && m.name === name);
      expect(series("faas_invocations_total")[0]?.value).toBe(3);
      // Cold starts are the runs that found no ready pool slot; checked against the spans below.
      const coldstarts = series("faas_coldstarts_total")[0]?.value ?? 0;
      expect(
        series("faas_invoke_duration_seconds_count")[0]?.value ??
          series("faas_invoke_duration_count")[0]?.value,
      ).toBe(3);
      expect(metrics.some((m) => m.name.startsWith("faas_cpu_usage"))).toBe(true);
      expect(metrics.some((m) => m.name.startsWith("bunker_invocations_inflight"))).toBe(true);
      // The pool per function, with the function's own min (2) rather than the server's (1).
      const poolInfo = async () =>
        (
          (await (await fetch(`${server!.url}/system/info`)).json()) as {
            pool: { slots: number; fds: number; functions: Record<string, { ready: number }> };
          }
        ).pool;
      // Refills while a run is in flight may leave one more, up to the function's max (3).
      await waitFor(
        "two ready slots for otel-echo",
        async () => ((await poolInfo()).functions["otel-echo"]?.ready ?? 0) >= 2,
      );
      const info = await poolInfo();
      expect(info.functions["otel-echo"]?.ready).toBeLessThanOrEqual(3);
      expect(info.fds).toBe(info.slots * 6);
      const after = parsePrometheus(await (await fetch(`${server.url}/metrics`)).text());
      const ready = after.find(
        (m) => m.name.startsWith("bunker_pool_ready") && m.labels.faas_name === "otel-echo",
      );
      expect(ready?.value).toBeGreaterThanOrEqual(2);
      expect(ready?.value).toBeLessThanOrEqual(3);
      expect(after.some((m) => m.name.startsWith("bunker_pool_fds"))).toBe(true);
      expect(after.some((m) => m.name.startsWith("bunker_pool_memory"))).toBe(true);

      // A clean stop flushes the batch span processor and the record writer.
      expect(await server.kill("SIGTERM")).toBe(143);
      await waitFor(
        "spans at the receiver",
        () => exported.filter((s) => s.name === "otel-echo").length >= 3,
      );
      expect(metricPosts).toBeGreaterThan(0);

      const invocationSpans = exported.filter((s) => s.name === "otel-echo");
      const coldSpans = invocationSpans.filter((s) => attr(s, "faas.coldstart") === true);
      expect(coldSpans.length).toBe(coldstarts);
      // The pool prepares a slot at start-up and after each run: the later calls are warm.
      expect(coldstarts).toBeLessThan(3);
      for (const id of ids) {
        const span = invocationSpans.find((s) => attr(s, "faas.invocation_id") === id);
        expect(span).toBeDefined();
        if (!span) continue;
        expect(attr(span, "faas.trigger")).toBe("http");
        expect(attr(span, "faas.invoked_name")).toBe("otel-echo");
        expect(typeof attr(span, "faas.coldstart")).toBe("boolean");
        expect(attr(span, "process.exit.code")).toBe(0);
        expect(typeof attr(span, "process.pid")).toBe("number");
        const children = exported.filter((s) => s.parentSpanId === span.spanId).map((s) => s.name);
        for (const stage of ["admit", "acquire slot", "spawn", "run", "collect", "store"])
          expect(children).toContain(stage);
        // Preparing the root is on the invocation's path only when no ready slot was there.
        expect(children.includes("prepare root")).toBe(attr(span, "faas.coldstart") === true);
      }
      const traced = invocationSpans.find((s) => attr(s, "faas.invocation_id") === ids[0]);
      expect(traced?.traceId).toBe(callerTrace);
      // The request's server span sits between the caller and the invocation, named by route template.
      const httpSpan = exported.find((s) => s.spanId === traced?.parentSpanId);
      expect(httpSpan?.name).toMatch(/^POST \/function\/:name/);
      expect(attr(httpSpan!, "http.response.status_code")).toBe(200);
      expect(httpSpan?.parentSpanId).toBe(callerSpan);

      // Read back as rows (stages come out of their parent's row): the same spans, field by field.
      const stored = await database.db.select().from(spanRows);
      const storedById = new Map(stored.map((s) => [s.spanId, s]));
      for (const span of exported) {
        const row = storedById.get(span.spanId);
        expect(row?.name).toBe(span.name);
        expect(row?.traceId).toBe(span.traceId);
        expect(row?.parentSpanId ?? undefined).toBe(span.parentSpanId || undefined);
        expect(String(row?.startNs)).toBe(span.startTimeUnixNano);
        expect(String(row?.endNs)).toBe(span.endTimeUnixNano);
        for (const a of span.attributes) expect(row?.attributes?.[a.key]).toEqual(attr(span, a.key));
        expect(Object.keys(row?.attributes ?? {}).length).toBe(span.attributes.length);
      }
      expect(stored.length).toBe(exported.length);
      // Fewer rows than spans: an invocation's stages live in its span's row.
      const tableRows = await database.db.select({ id: spansTable.spanId }).from(spansTable);
      expect(tableRows.length).toBeLessThan(exported.length);
    } finally {
      await server?.kill("SIGKILL");
      receiver.stop(true);
      await database.close();
      await scratch.drop();
    }
  },
  120_000,
);
