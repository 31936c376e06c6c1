import type { Fingerprint } from "../driver/api.ts";
import type { LoadError } from "../functions/loader.ts";
import type { FunctionRegistry } from "../functions/registry.ts";
import type { AsyncService } from "../invoke/async.ts";
import type { InvocationControl } from "../invoke/control.ts";
import type { Invoker } from "../invoke/invoker.ts";
import type { PoolFootprint, PoolKeyStats } from "../pool/pool.ts";
import type { Db } from "../store/db.ts";
import type { TokenStore } from "./tokens.ts";

/** Everything the HTTP layer needs, built by the composition root (or a test). */
export interface GatewayDeps {
  version: string;
  functions: FunctionRegistry;
  invoker: Invoker;
  async: AsyncService;
  invocations: InvocationControl;
  fingerprint: () => Fingerprint;
  /** null = open mode (loopback without tokens). */
  tokens: TokenStore | null;
  /** Prometheus text; the telemetry layer fills it in. */
  metrics?: () => string | Promise<string>;
  /** Function files that did not load, shown in /system/info. */
  loadErrors?: LoadError[];
  limits?: Partial<GatewayLimits>;
  /** The records database, when the store is on: the dashboard's charts are SQL over it. */
  db?: Db;
  /** One server span per request, named by route template (the telemetry layer implements it). */
  httpTracer?: HttpTracer;
  /** The warm pool's state for /system/info; absent when the pool is off. */
  pool?: () => PoolInfo;
}

/** What /system/info shows of the warm pool: its footprint and each function's slots. */
export type PoolInfo = PoolFootprint & { functions: Record<string, PoolKeyStats> };

/** Server spans for HTTP requests; the invocation span of a function call is a child of it. */
export interface HttpTracer {
  /** `traceparent` is the caller's header (validated by the implementation). */
  start(method: string, traceparent: string | null): HttpSpan;
}

export interface HttpSpan {
  /** This span as a W3C traceparent: the parent the invocation (and the task) see. */
  readonly traceparent: string;
  /** `route` is the matched template, e.g. "/function/:name". */
  end(route: string, status: number): void;
}

export interface GatewayLimits {
  maxHeaderBytes: number;
  maxHeaderCount: number;
  /** Largest body of the /system API (function definitions, signal requests). */
  maxAdminBody: number;
  /**
   * Stdout buffered before a sync response commits to 200 and streams. Below it the status
   * reflects the exit code; above it the body streams and a later failure aborts the body.
   */
  streamAfterBytes: number;
}

export const DEFAULT_LIMITS: GatewayLimits = {
  maxHeaderBytes: 16 * 1024,
  maxHeaderCount: 100,
  maxAdminBody: 1024 * 1024,
  streamAfterBytes: 64 * 1024,
};
