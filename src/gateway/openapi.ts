import { z } from "zod";
import { functionJsonSchema } from "../functions/json-schema.ts";
import {
  AsyncAcceptedSchema,
  FunctionSummarySchema,
  InfoSchema,
  InvocationRecordSchema,
  ProblemSchema,
  SignalRequestSchema,
} from "./schemas.ts";

type Json = Record<string, unknown>;

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: Json) => ({ content: { "application/json": { schema } } });
const problem = (description: string) => ({
  description,
  content: { "application/problem+json": { schema: ref("Problem") } },
});
const raw = { content: { "*/*": { schema: { type: "string", format: "binary" } } } };
const callHeaders = {
  "X-Call-Id": { schema: { type: "string" } },
  "X-Duration-Seconds": { schema: { type: "string" } },
  "X-Function-Exit-Code": { schema: { type: "string" } },
};
const nameParam = { name: "name", in: "path", required: true, schema: { type: "string" } };
const idParam = { name: "id", in: "path", required: true, schema: { type: "string" } };
const invokeErrors = {
  "401": problem("Missing or invalid bearer token"),
  "403": problem("Token lacks the invoke scope"),
  "404": problem("Unknown function"),
  "413": problem("Body larger than max_body"),
  "429": problem("At max_inflight or the global limit (Retry-After)"),
  "503": problem("Driver unavailable (fingerprint reason)"),
};

function schema(s: z.ZodType): Json {
  return z.toJSONSchema(s, { io: "output", unrepresentable: "any" }) as Json;
}

/** The OpenAPI 3.1 document; component schemas are generated from the zod schemas. */
export function openApiDocument(version: string): Json {
  const sync = {
    summary: "Invoke synchronously: body -> stdin, stdout -> body",
    parameters: [nameParam],
    requestBody: raw,
    responses: {
      "200": { description: "Exit code 0", headers: callHeaders, ...raw },
      "500": problem("Non-zero exit (exit_code, stderr_tail)"),
      "502": problem("Output larger than max_output"),
      "504": problem("Timed out"),
      ...invokeErrors,
    },
  };
  return {
    openapi: "3.1.0",
    info: {
      title: "Bunker",
      version,
      description: "Isolated exec functions behind an OpenFaaS-like gateway",
    },
    components: {
      securitySchemes: { bearer: { type: "http", scheme: "bearer" } },
      schemas: {
        Problem: schema(ProblemSchema),
        Function: functionJsonSchema(),
        FunctionSummary: schema(FunctionSummarySchema),
        Invocation: schema(InvocationRecordSchema),
        SignalRequest: z.toJSONSchema(SignalRequestSchema, { io: "input" }),
        AsyncAccepted: schema(AsyncAcceptedSchema),
        Info: schema(InfoSchema),
      },
    },
    security: [{ bearer: [] }],
    paths: {
      "/function/{name}": { get: sync, post: sync, put: sync, delete: sync, patch: sync },
      "/function/{name}/{path}": {
        post: { ...sync, parameters: [nameParam, { ...nameParam, name: "path" }] },
      },
      "/async-function/{name}": {
        post: {
          summary: "Invoke asynchronously",
          parameters: [
            nameParam,
            { name: "X-Callback-Url", in: "header", schema: { type: "string", format: "uri" } },
            { name: "Idempotency-Key", in: "header", schema: { type: "string", maxLength: 255 } },
          ],
          requestBody: raw,
          responses: { "202": { description: "Queued", ...json(ref("AsyncAccepted")) }, ...invokeErrors },
        },
      },
      "/system/invocations": {
        get: {
          summary: "Recent invocations",
          parameters: [
            { name: "function", in: "query", schema: { type: "string" } },
            { name: "status", in: "query", schema: { type: "string" } },
            { name: "limit", in: "query", schema: { type: "integer", minimum: 1, maximum: 1000 } },
          ],
          responses: { "200": { description: "Newest first", ...json({ type: "object" }) } },
        },
      },
      "/system/invocations/{id}": {
        get: {
          parameters: [idParam],
          responses: { "200": json(ref("Invocation")), "404": problem("Unknown id") },
        },
        delete: {
          summary: "Cancel (stop the task or drop the queued job)",
          parameters: [idParam],
          responses: { "202": json(ref("Invocation")), "409": problem("Already finished") },
        },
      },
      "/system/invocations/{id}/signal": {
        post: {
          parameters: [idParam],
          requestBody: json(ref("SignalRequest")),
          responses: {
            "202": json(ref("Invocation")),
            "409": problem("Not running"),
            "422": problem("Bad signal"),
          },
        },
      },
      "/system/functions": {
        get: { responses: { "200": json({ type: "object" }) } },
        post: {
          requestBody: json(ref("Function")),
          responses: { "201": json({}), "409": problem("Exists") },
        },
      },
      "/system/functions/schema": { get: { security: [], responses: { "200": json(ref("Function")) } } },
      "/system/functions/{name}": {
        get: { parameters: [nameParam], responses: { "200": json({}), "404": problem("Unknown") } },
        put: {
          parameters: [nameParam],
          requestBody: json(ref("Function")),
          responses: {
            "200": json({}),
            "201": json({}),
            "409": problem("File-defined"),
            "422": problem("Invalid"),
          },
        },
        delete: { parameters: [nameParam], responses: { "204": { description: "Deleted" } } },
      },
      "/2015-03-31/functions/{name}/invocations": {
        post: {
          summary: "AWS Lambda Invoke",
          parameters: [
            nameParam,
            {
              name: "X-Amz-Invocation-Type",
              in: "header",
              schema: { enum: ["RequestResponse", "Event", "DryRun"] },
            },
            { name: "X-Amz-Log-Type", in: "header", schema: { enum: ["None", "Tail"] } },
          ],
          requestBody: raw,
          responses: { "200": raw, "202": { description: "Event queued" }, "204": { description: "DryRun" } },
        },
      },
      "/system/info": { get: { responses: { "200": json(ref("Info")) } } },
      "/healthz": { get: { security: [], responses: { "200": json({}) } } },
      "/readyz": {
        get: { security: [], responses: { "200": json({}), "503": problem("Driver unavailable") } },
      },
      "/metrics": { get: { security: [], responses: { "200": { description: "Prometheus text" } } } },
      "/openapi.json": { get: { security: [], responses: { "200": json({}) } } },
    },
  };
}

const esc = (s: string) =>
  s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll('"', "&quot;");

/** A self-contained docs page (no external scripts) listing every route of the document. */
export function docsPage(doc: Json): string {
  const rows: string[] = [];
  for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, Json>>)) {
    for (const [method, op] of Object.entries(ops)) {
      const codes = Object.keys((op.responses as Json | undefined) ?? {}).join(" ");
      rows.push(
        `<tr><td><code>${method.toUpperCase()}</code></td><td><code>${esc(path)}</code></td>` +
          `<td>${esc(String(op.summary ?? ""))}</td><td>${codes}</td></tr>`,
      );
    }
  }
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Bunker API</title>
<style>body{font:14px system-ui;margin:2rem}td{padding:.2rem .6rem;border-bottom:1px solid #ddd}</style></head>
<body><h1>Bunker API</h1><p>Machine-readable: <a href="/openapi.json">/openapi.json</a>.
Errors are <code>application/problem+json</code> (RFC 9457).</p>
<table><thead><tr><th>Method</th><th>Path</th><th>Summary</th><th>Responses</th></tr></thead><tbody>
${rows.join("\n")}</tbody></table></body></html>`;
}
