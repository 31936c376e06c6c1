/**
 * k6 scenario for isolation start-up under load: many short invocations of a
 * no-op function, sync, reporting the gateway's own per-call duration
 * (X-Duration-Seconds) as a custom trend. Twin: bench/startup.ts (library level).
 *   k6 run -e BASE_URL=http://127.0.0.1:8080 bench/k6/startup.ts
 */
import { check } from "k6";
import http from "k6/http";
import { Trend } from "k6/metrics";
import type { Options } from "k6/options";

const base = __ENV.BASE_URL ?? "http://127.0.0.1:8080";
const invokeSeconds = new Trend("bunker_invoke_seconds", true);

export const options: Options = {
  scenarios: {
    ramp: {
      executor: "ramping-vus",
      startVUs: 1,
      stages: [
        { duration: "5s", target: 2 },
        { duration: "10s", target: 8 },
        { duration: "5s", target: 0 },
      ],
    },
  },
  thresholds: {
    http_req_failed: ["rate<0.001"],
    bunker_invoke_seconds: ["p(99)<0.05"],
  },
};

export default function (): void {
  const res = http.get(`${base}/function/noop`);
  check(res, { "status is 200": (r) => r.status === 200 });
  const d = Number(res.headers["X-Duration-Seconds"]);
  if (Number.isFinite(d)) invokeSeconds.add(d * 1000);
}
