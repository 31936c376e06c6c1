import { isIP } from "node:net";
import type { Driver } from "../driver/api.ts";
import type { LoadError } from "../functions/loader.ts";
import type { FunctionRegistry } from "../functions/registry.ts";
import { createInvokeServices, type InvokeServices, type InvokeServicesOptions } from "../invoke/services.ts";
import type { Db } from "../store/db.ts";
import { createApp } from "./app.ts";
import type { GatewayLimits, HttpTracer, PoolInfo } from "./deps.ts";
import { type TokenEntry, TokenStore } from "./tokens.ts";
import { type SocketEvents, websocketHandler } from "./ws.ts";

export interface ServerOptions {
  /** The records database (dashboard charts); absent when running without a store. */
  db?: Db;
  /** Server spans per request (telemetry). */
  httpTracer?: HttpTracer;
  /** The warm pool's state for /system/info. */
  pool?: () => PoolInfo;
  port?: number;
  hostname?: string;
  version?: string;
  driver: Driver;
  functions: FunctionRegistry;
  loadErrors?: LoadError[];
  tokens?: TokenEntry[];
  /** HMAC secret for callback signatures; a random one per process when unset. */
  callbackSecret?: string;
  globalLimit?: number;
  /** Largest request body Bun accepts at all (a function's max_body is checked per route). */
  maxRequestBodySize?: number;
  limits?: Partial<GatewayLimits>;
  metrics?: () => string | Promise<string>;
  /** The records and telemetry seams of the invoke layer (store sink, durable queue, store reader, tracer). */
  records?: Pick<InvokeServicesOptions, "sinks" | "queue" | "reader" | "tracer">;
  log?: (line: string) => void;
}

export interface RunningServer {
  server: Bun.Server<SocketEvents>;
  services: InvokeServices;
  url: URL;
  stop(): Promise<void>;
}

export function isLoopback(hostname: string): boolean {
  if (hostname === "localhost") return true;
  if (isIP(hostname) === 4) return hostname.startsWith("127.");
  const h = hostname.replace(/^\[|\]$/g, "");
  return h === "::1";
}

/**
 * Serves the gateway with Bun.serve (default 127.0.0.1:8080). Without tokens it runs open on
 * loopback (and says so) and refuses any other address.
 */
export function startServer(o: ServerOptions): RunningServer {
  const hostname = o.hostname ?? "127.0.0.1";
  const log = o.log ?? ((line: string) => console.log(line));
  const tokens = o.tokens ?? [];
  if (tokens.length === 0 && !isLoopback(hostname)) {
    throw new Error(
      `refusing to listen on ${hostname} without tokens: set BUNKER_TOKENS or a tokens file, or bind to 127.0.0.1`,
    );
  }
  if (tokens.length === 0) log(`bunker: no tokens configured; the API is open on loopback (${hostname})`);
  const services = createInvokeServices({
    driver: o.driver,
    lookup: (name) => o.functions.get(name),
    callbackSecret:
      o.callbackSecret ?? Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("hex"),
    ...(o.globalLimit === undefined ? {} : { globalLimit: o.globalLimit }),
    ...o.records,
  });
  const app = createApp({
    version: o.version ?? "0.1.0",
    functions: o.functions,
    ...services,
    fingerprint: () => o.driver.fingerprint(),
    tokens: tokens.length === 0 ? null : new TokenStore(tokens),
    ...(o.metrics === undefined ? {} : { metrics: o.metrics }),
    ...(o.loadErrors === undefined ? {} : { loadErrors: o.loadErrors }),
    ...(o.limits === undefined ? {} : { limits: o.limits }),
    ...(o.db === undefined ? {} : { db: o.db }),
    ...(o.httpTracer === undefined ? {} : { httpTracer: o.httpTracer }),
    ...(o.pool === undefined ? {} : { pool: o.pool }),
  });
  const server = Bun.serve({
    port: o.port ?? 8080,
    hostname,
    maxRequestBodySize: o.maxRequestBodySize ?? 128 * 1024 * 1024,
    fetch: app.fetch,
    websocket: websocketHandler,
    error: () =>
      new Response(
        JSON.stringify({ type: "urn:bunker:problem:internal", title: "Internal error", status: 500 }),
        {
          status: 500,
          headers: { "Content-Type": "application/problem+json" },
        },
      ),
  });
  return {
    server,
    services,
    url: new URL(server.url.href),
    async stop() {
      await services.async.close();
      await server.stop();
    },
  };
}
