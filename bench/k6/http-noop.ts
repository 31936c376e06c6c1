/**
 * k6 version of bench/http.ts: a no-op function through Bunker's gateway at
 * the concurrencies of bench/scenarios.json. Run where k6 exists:
 *   k6 run -e BASE_URL=http://127.0.0.1:8080 bench/k6/http-noop.ts
 * (k6 runs TypeScript directly since v0.57). Here, `npm run bench:http` runs
 * the same scenarios with autocannon.
 */
import { check } from "k6";
import http from "k6/http";
import type { Options } from "k6/options";

interface Scenarios {
  function: string;
  durationSeconds: number;
  concurrencies: number[];
  targets: { p50RatioMax: number; throughputRatioMin: number };
}

const shared = JSON.parse(open("../scenarios.json")) as Scenarios;
const base = __ENV.BASE_URL ?? "http://127.0.0.1:8080";

/** One constant-VU scenario per concurrency, one after the other. */
function scenarios(): NonNullable<Options["scenarios"]> {
  const out: NonNullable<Options["scenarios"]> = {};
  shared.concurrencies.forEach((vus, i) => {
    out[`c${vus}`] = {
      executor: "constant-vus",
      vus,
      duration: `${shared.durationSeconds}s`,
      startTime: `${i * (shared.durationSeconds + 1)}s`,
      tags: { concurrency: String(vus) },
    };
  });
  return out;
}

export const options: Options = {
  scenarios: scenarios(),
  thresholds: {
    http_req_failed: ["rate<0.001"],
    "http_req_duration{concurrency:1}": ["p(50)<5"],
    checks: ["rate>0.999"],
  },
};

export default function (): void {
  const res = http.get(`${base}/function/${shared.function}`);
  check(res, {
    "status is 200": (r) => r.status === 200,
    "exit code 0": (r) => r.headers["X-Function-Exit-Code"] === "0",
  });
}
