import { z } from "zod";
import { functionJsonSchema } from "../functions/json-schema.ts";
import {
  AsyncAcceptedSchema,
  ExecClientFrameSchema,
  ExecServerFrameSchema,
  FunctionSummarySchema,
  InfoSchema,
  InvocationRecordSchema,
  ProblemSchema,
  SignalRequestSchema,
} from "./schemas.ts";

type Json = Record<string, unknown>;

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (description: string, schema: Json = { type: "object" }) => ({
  description,
  content: { "application/json": { schema } },
});
const problem = (description: string) => ({
  description,
  content: { "application/problem+json": { schema: ref("Problem") } },
});
const raw = { content: { "*/*": { schema: { type: "string", format: "binary" } } } };
const callHeaders = {
  "X-Call-Id": { description: "Invocation id", schema: { type: "string" } },
  "X-Duration-Seconds": { description: "Wall time of the run", schema: { type: "string" } },
  "X-Function-Exit-Code": {
    description: "Exit code (absent when the response streamed)",
    schema: { type: "string" },
  },
};
const pathParam = (name: string, description: string) => ({
  name,
  in: "path",
  required: true,
  description,
  schema: { type: "string" },
});
const nameParam = pathParam("name", "Function name (a DNS label)");
const subPathParam = pathParam("path", "Rest of the path, passed to the task as Http_Path");
const idParam = pathParam("id", "Invocation id (X-Call-Id)");
const jobParam = pathParam("name", "Scheduled function name");
const invokeErrors = {
  "401": problem("Missing or invalid bearer token"),
  "403": problem("Token lacks the invoke scope"),
  "404": problem("Unknown function"),
  "413": problem("Body larger than max_body"),
  "429": problem("At max_inflight or the global limit (Retry-After)"),
  "503": problem("Driver unavailable (fingerprint reason)"),
};
const adminErrors = {
  "401": problem("Missing or invalid bearer token"),
  "403": problem("Token lacks the admin scope"),
};
const METHODS = ["get", "post", "put", "delete", "patch", "head", "options"] as const;

function schema(s: z.ZodType, io: "input" | "output" = "output"): Json {
  return z.toJSONSchema(s, { io, unrepresentable: "any" }) as Json;
}

const EXEC_PROTOCOL =
  "Nomad `alloc exec` over a WebSocket (admin scope). Connect with `Upgrade: websocket`; every " +
  "frame is a JSON text frame. Client to server: `{stdin: <base64>}`, `{resize: {cols, rows}}`, " +
  "`{close: true}` (EOF on stdin); see ExecClientFrame. Server to client: `{stdout: <base64>}`, " +
  "`{stderr: <base64>}`, then `{exit: <code>}` and a normal close (1000), or `{error: <text>}` " +
  "(close 1011 when exec could not start); see ExecServerFrame. Closing the socket kills the process.";

/** The OpenAPI 3.1 document; component schemas are generated from the zod schemas. */
export function openApiDocument(version: string): Json {
  const sync = (parameters: Json[]) => ({
    summary: "Invoke synchronously: body -> stdin, stdout -> body",
    description:
      "Up to 64 KiB of output the status reflects the exit code; beyond that the response is " +
      "committed to 200 and streams, and a later failure cuts the body short.",
    parameters,
    requestBody: raw,
    responses: {
      "200": { description: "Exit code 0", headers: callHeaders, ...raw },
      "500": problem("Non-zero exit (exit_code, stderr_tail) or the task could not start"),
      "502": problem("Output larger than max_output"),
      "504": problem("Timed out"),
      ...invokeErrors,
    },
  });
  const everyMethod = (op: Json) => Object.fromEntries(METHODS.map((m) => [m, op]));
  const asyncOp = (parameters: Json[]) => ({
    post: {
      summary: "Invoke asynchronously",
      parameters: [
        ...parameters,
        {
          name: "X-Callback-Url",
          in: "header",
          description: "Receives the result, signed with X-Bunker-Signature",
          schema: { type: "string", format: "uri" },
        },
        { name: "Idempotency-Key", in: "header", schema: { type: "string", maxLength: 255 } },
      ],
      requestBody: raw,
      responses: { "202": json("Queued", ref("AsyncAccepted")), ...invokeErrors },
    },
  });
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
        SignalRequest: schema(SignalRequestSchema, "input"),
        AsyncAccepted: schema(AsyncAcceptedSchema),
        Info: schema(InfoSchema),
        ExecClientFrame: schema(ExecClientFrameSchema, "input"),
        ExecServerFrame: schema(ExecServerFrameSchema),
      },
    },
    security: [{ bearer: [] }],
    paths: {
      "/function/{name}": everyMethod(sync([nameParam])),
      "/function/{name}/{path}": everyMethod(sync([nameParam, subPathParam])),
      "/async-function/{name}": asyncOp([nameParam]),
      "/async-function/{name}/{path}": asyncOp([nameParam, subPathParam]),
      "/system/invocations": {
        get: {
          summary: "Recent invocations",
          parameters: [
            { name: "function", in: "query", schema: { type: "string" } },
            { name: "status", in: "query", schema: { type: "string" } },
            { name: "limit", in: "query", schema: { type: "integer", minimum: 1, maximum: 1000 } },
          ],
          responses: {
            "200": json("Newest first", {
              type: "object",
              properties: { invocations: { type: "array", items: ref("Invocation") } },
            }),
            "422": problem("Bad query"),
          },
        },
      },
      "/system/invocations/{id}": {
        get: {
          summary: "One invocation: state, timings, exit, reason, stderr tail",
          parameters: [
            idParam,
            {
              name: "detail",
              in: "query",
              description:
                "true adds `usage` and `spans` (id, parent, name, startMs, endMs), as `bunker inspect` shows",
              schema: { type: "string", enum: ["true", "false"] },
            },
          ],
          responses: { "200": json("The record", ref("Invocation")), "404": problem("Unknown id") },
        },
        delete: {
          summary: "Cancel (stop the task or drop the queued job)",
          parameters: [idParam],
          responses: {
            "202": json("Cancelled", ref("Invocation")),
            "404": problem("Unknown id"),
            "409": problem("Already finished"),
          },
        },
      },
      "/system/invocations/{id}/signal": {
        post: {
          summary: "Send a signal to the running task (Nomad alloc signal)",
          parameters: [idParam],
          requestBody: { content: { "application/json": { schema: ref("SignalRequest") } } },
          responses: {
            "202": json("Sent", ref("Invocation")),
            "404": problem("Unknown id"),
            "409": problem("Not running"),
            "422": problem("Bad signal"),
          },
        },
      },
      "/system/invocations/{id}/exec": {
        get: {
          summary: "Exec into the running task (WebSocket)",
          description: EXEC_PROTOCOL,
          parameters: [
            idParam,
            {
              name: "command",
              in: "query",
              required: true,
              description: 'Command and arguments as a JSON array, like ["/bin/sh"]',
              schema: { type: "string" },
            },
            { name: "tty", in: "query", schema: { type: "string", enum: ["true", "false", "1", "0"] } },
            { name: "cols", in: "query", schema: { type: "integer", minimum: 1, maximum: 1000 } },
            { name: "rows", in: "query", schema: { type: "integer", minimum: 1, maximum: 1000 } },
          ],
          responses: {
            "101": { description: "Switching to the WebSocket protocol above" },
            ...adminErrors,
            "404": problem("Unknown id"),
            "409": problem("Not running"),
            "422": problem("Bad query"),
            "426": problem("Not a WebSocket request"),
            "501": problem("The driver cannot exec into tasks"),
          },
        },
      },
      "/system/functions": {
        get: {
          summary: "Every function",
          responses: {
            "200": json("Sorted by name", {
              type: "object",
              properties: { functions: { type: "array", items: ref("FunctionSummary") } },
            }),
            ...adminErrors,
          },
        },
        post: {
          summary: "Create a function (the body names it)",
          requestBody: { content: { "application/json": { schema: ref("Function") } } },
          responses: {
            "201": json("Created"),
            "409": problem("Exists"),
            "422": problem("Invalid (errors with JSON pointers)"),
            ...adminErrors,
          },
        },
      },
      "/system/functions/schema": {
        get: {
          summary: "JSON Schema of a function definition",
          security: [],
          responses: { "200": json("JSON Schema (draft 2020-12)", ref("Function")) },
        },
      },
      "/system/functions/{name}": {
        get: {
          parameters: [nameParam],
          responses: { "200": json("Summary and definition"), "404": problem("Unknown"), ...adminErrors },
        },
        put: {
          summary: "Create or replace an API-defined function (JSON or TOML)",
          parameters: [nameParam],
          requestBody: {
            content: {
              "application/json": { schema: ref("Function") },
              "application/toml": { schema: { type: "string" } },
            },
          },
          responses: {
            "200": json("Replaced"),
            "201": json("Created"),
            "409": problem("File-defined"),
            "422": problem("Invalid"),
            ...adminErrors,
          },
        },
        delete: {
          parameters: [nameParam],
          responses: {
            "204": { description: "Deleted" },
            "404": problem("Unknown"),
            "409": problem("File-defined"),
            ...adminErrors,
          },
        },
      },
      "/system/jobs": {
        get: { summary: "Scheduled functions, their last and next runs", responses: { "200": json("Jobs") } },
      },
      "/system/jobs/{name}": {
        get: { parameters: [jobParam], responses: { "200": json("One job"), "404": problem("Unknown") } },
      },
      "/system/jobs/{name}/next": {
        get: {
          summary: "Next fire times",
          parameters: [
            jobParam,
            { name: "n", in: "query", schema: { type: "integer", minimum: 1, maximum: 100 } },
          ],
          responses: { "200": json("Fire times"), "422": problem("Bad n") },
        },
      },
      "/system/jobs/{name}/trigger": {
        post: {
          summary: "Run a scheduled function now",
          parameters: [jobParam],
          responses: { "202": json("Triggered"), "404": problem("Unknown") },
        },
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
          responses: {
            "200": { description: "Output, or the error with X-Amz-Function-Error", ...raw },
            "202": { description: "Event queued" },
            "204": { description: "DryRun" },
            ...invokeErrors,
          },
        },
      },
      "/system/info": {
        get: {
          summary: "Version, fingerprint, driver.exec",
          responses: { "200": json("Info", ref("Info")) },
        },
      },
      "/healthz": { get: { security: [], responses: { "200": json("The process is up") } } },
      "/readyz": {
        get: {
          security: [],
          responses: { "200": json("Ready to run functions"), "503": problem("Driver unavailable") },
        },
      },
      "/metrics": {
        get: {
          security: [],
          responses: {
            "200": {
              description: "Prometheus text",
              content: { "text/plain": { schema: { type: "string" } } },
            },
          },
        },
      },
      "/openapi.json": { get: { security: [], responses: { "200": json("This document") } } },
      "/docs": {
        get: {
          security: [],
          responses: {
            "200": {
              description: "HTML docs page",
              content: { "text/html": { schema: { type: "string" } } },
            },
          },
        },
      },
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
