import { describe, expect, test } from "bun:test";
import { parsePluginConfig } from "../../src/driver/config.ts";
import { ValidationError } from "../../src/errors.ts";
import { buildFunctionSpec } from "../../src/functions/spec.ts";
import { taskParser } from "../../src/functions/task.ts";
import { CronError, checkTimeZone, nextFire, nextFires, parseCron } from "../../src/schedule/cron.ts";
import { lastOf, nextNOf, ScheduleSchema, scheduleOf, toSchedule } from "../../src/schedule/spec.ts";

const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());
const at = (s: string) => Date.parse(s);
/** Local wall-clock strings of fire times in a zone ("2025-03-09T01:30-05:00"). */
function local(ms: number[], zone: string): string[] {
  return ms.map((t) => {
    const z = Temporal.Instant.fromEpochMilliseconds(t).toZonedDateTimeISO(zone);
    return `${z.toPlainDateTime().toString().slice(0, 16)}${z.offset}`;
  });
}

describe("parseCron", () => {
  test("lists, ranges, steps, names and 7 = Sunday", () => {
    const c = parseCron("0,15-17,*/20 9-17/4 1 jan-Mar,DEC mon-FRI,7");
    expect(c.minute.values).toEqual([0, 15, 16, 17, 20, 40]);
    expect(c.hour.values).toEqual([9, 13, 17]);
    expect(c.dayOfMonth.values).toEqual([1]);
    expect(c.month.values).toEqual([1, 2, 3, 12]);
    expect(c.dayOfWeek.values).toEqual([0, 1, 2, 3, 4, 5]);
    expect(parseCron("5/15 * * * *").minute.values).toEqual([5, 20, 35, 50]);
  });

  test("macros", () => {
    expect(parseCron("@hourly").minute.values).toEqual([0]);
    expect(parseCron("@daily").hour.values).toEqual([0]);
    expect(parseCron("@weekly").dayOfWeek.values).toEqual([0]);
    expect(parseCron("@monthly").dayOfMonth.values).toEqual([1]);
    expect(parseCron("@yearly").month.values).toEqual([1]);
    expect(parseCron("@annually").source).toBe("@annually");
  });

  test("6 and 7 fields are refused and the message says why", () => {
    for (const expr of ["0 */5 * * * *", "*/5 * * * * 2030", "0 0 12 * * ? 2030"]) {
      const err = (() => {
        try {
          parseCron(expr);
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(CronError);
      expect(err).toBeInstanceOf(ValidationError);
      const msg = (err as Error).message;
      expect(msg).toContain("exactly 5");
      expect(msg).toContain("Nomad reads a 6th field as the year");
      expect(msg).toContain("as seconds");
    }
  });

  test.each([
    ["* * * *", "expected 5"],
    ["60 * * * *", "minute field: 60 is out of range 0-59"],
    ["* 24 * * *", "hour field: 24 is out of range 0-23"],
    ["* * 0 * *", "day-of-month field: 0 is out of range 1-31"],
    ["* * * 13 *", "month field: 13 is out of range 1-12"],
    ["* * * * 8", "day-of-week field: 8 is out of range 0-7"],
    ["* * * FOO *", 'month field: "FOO" is not a number (a number or a name JAN-DEC)'],
    ["*/0 * * * *", 'step "0"'],
    ["5-1 * * * *", "goes backwards"],
    ["1,,2 * * * *", "empty list item"],
    ["@reboot", "@reboot is not a schedule"],
    ["0 0 30 2 *", "never matches"],
    ["0 0 31 4,6 *", "never matches"],
  ])("%p is refused: %s", (expr, message) => {
    expect(() => parseCron(expr)).toThrow(message);
  });

  test("Feb 30 with a day-of-week is fine: Vixie ORs the day fields", () => {
    expect(() => parseCron("0 0 30 2 MON")).not.toThrow();
  });
});

describe("nextFire in UTC", () => {
  test("every 5 minutes, strictly after", () => {
    const c = parseCron("*/5 * * * *");
    expect(iso(nextFire(c, at("2026-01-01T10:00:00Z")))).toBe("2026-01-01T10:05:00.000Z");
    expect(iso(nextFire(c, at("2026-01-01T10:04:59.999Z")))).toBe("2026-01-01T10:05:00.000Z");
    expect(iso(nextFire(c, at("2026-12-31T23:58:00Z")))).toBe("2027-01-01T00:00:00.000Z");
  });

  test("Vixie: both day fields restricted = either matches; one starred = both must", () => {
    // 2026-03-01 is a Sunday. "1st of the month OR Friday".
    const either = nextFires(parseCron("0 12 1 * FRI"), at("2026-03-01T13:00:00Z"), 3).map(iso);
    expect(either).toEqual([
      "2026-03-06T12:00:00.000Z",
      "2026-03-13T12:00:00.000Z",
      "2026-03-20T12:00:00.000Z",
    ]);
    // A leading * counts as unrestricted even with a step ("*/2"): days 1,3,5,... that are Fridays.
    const both = nextFires(parseCron("0 12 */2 * FRI"), at("2026-03-01T13:00:00Z"), 2).map(iso);
    expect(both).toEqual(["2026-03-13T12:00:00.000Z", "2026-03-27T12:00:00.000Z"]);
  });

  test("leap day", () => {
    expect(iso(nextFire(parseCron("0 0 29 2 *"), at("2026-03-01T00:00:00Z")))).toBe(
      "2028-02-29T00:00:00.000Z",
    );
  });

  test("crons: the earliest next time wins", () => {
    const s = toSchedule("f", ScheduleSchema.parse({ crons: ["0 9 * * *", "30 8 * * *"] }));
    expect(nextNOf(s, at("2026-05-05T08:00:00Z"), 3).map(iso)).toEqual([
      "2026-05-05T08:30:00.000Z",
      "2026-05-05T09:00:00.000Z",
      "2026-05-06T08:30:00.000Z",
    ]);
    expect(iso(lastOf(s, at("2026-05-01T00:00:00Z"), at("2026-05-05T08:45:00Z")))).toBe(
      "2026-05-05T08:30:00.000Z",
    );
  });

  test("the latest missed time after a long downtime is found without walking every minute", () => {
    const s = toSchedule("f", ScheduleSchema.parse({ cron: "* * * * MON" }));
    // Down for three years, back on a Wednesday: the last miss is the previous Monday's 23:59.
    expect(iso(lastOf(s, at("2023-01-01T00:00:00Z"), at("2026-03-04T12:00:00Z")))).toBe(
      "2026-03-02T23:59:00.000Z",
    );
  });
});

describe("time zones and daylight saving", () => {
  test('unknown zone: Invalid time zone "X" (Nomad)', () => {
    expect(() => checkTimeZone("Mars/Olympus")).toThrow('Invalid time zone "Mars/Olympus"');
    expect(checkTimeZone("Europe/Berlin")).toBe("Europe/Berlin");
  });

  test("America/New_York spring forward: 02:30 does not exist and is skipped (Nomad too)", () => {
    const c = parseCron("30 2 * * *");
    const fires = nextFires(c, at("2025-03-07T12:00:00Z"), 3, "America/New_York");
    expect(local(fires, "America/New_York")).toEqual([
      "2025-03-08T02:30-05:00",
      // 2025-03-09 02:30 never happens
      "2025-03-10T02:30-04:00",
      "2025-03-11T02:30-04:00",
    ]);
  });

  test("America/New_York spring forward: an every-15-minutes job jumps from 01:45 EST to 03:00 EDT", () => {
    const fires = nextFires(parseCron("*/15 * * * *"), at("2025-03-09T06:40:00Z"), 3, "America/New_York");
    expect(local(fires, "America/New_York")).toEqual([
      "2025-03-09T01:45-05:00",
      "2025-03-09T03:00-04:00",
      "2025-03-09T03:15-04:00",
    ]);
    // Real time between the two: 15 minutes.
    expect((fires[1] ?? 0) - (fires[0] ?? 0)).toBe(15 * 60_000);
  });

  test("America/New_York fall back: 01:30 happens twice and runs once, at the first (Nomad runs it twice)", () => {
    const c = parseCron("30 1 * * *");
    const fires = nextFires(c, at("2025-11-01T12:00:00Z"), 3, "America/New_York");
    expect(local(fires, "America/New_York")).toEqual([
      "2025-11-02T01:30-04:00",
      "2025-11-03T01:30-05:00",
      "2025-11-04T01:30-05:00",
    ]);
    // Asked from inside the repeated hour (after the first 01:30), the second 01:30 is not a fire time.
    const insideSecondPass = at("2025-11-02T06:10:00Z"); // 01:10 EST
    expect(local([nextFire(c, insideSecondPass, "America/New_York") ?? 0], "America/New_York")).toEqual([
      "2025-11-03T01:30-05:00",
    ]);
  });

  test("America/New_York fall back: an every-20-minutes job does not repeat the 01:xx hour", () => {
    const fires = nextFires(parseCron("*/20 * * * *"), at("2025-11-02T05:30:00Z"), 4, "America/New_York");
    expect(local(fires, "America/New_York")).toEqual([
      "2025-11-02T01:40-04:00",
      // 01:00, 01:20, 01:40 EST already happened as EDT: skipped
      "2025-11-02T02:00-05:00",
      "2025-11-02T02:20-05:00",
      "2025-11-02T02:40-05:00",
    ]);
  });

  test("Europe/Berlin: 02:30 skipped in March, once in October", () => {
    const c = parseCron("30 2 * * *");
    const spring = nextFires(c, at("2025-03-29T12:00:00Z"), 2, "Europe/Berlin");
    expect(local(spring, "Europe/Berlin")).toEqual(["2025-03-31T02:30+02:00", "2025-04-01T02:30+02:00"]);
    const autumn = nextFires(c, at("2025-10-25T12:00:00Z"), 2, "Europe/Berlin");
    expect(local(autumn, "Europe/Berlin")).toEqual(["2025-10-26T02:30+02:00", "2025-10-27T02:30+01:00"]);
  });

  test("Europe/Berlin: a daily 09:00 job keeps its wall-clock time across both changes", () => {
    const fires = nextFires(parseCron("0 9 * * *"), at("2025-03-29T00:00:00Z"), 3, "Europe/Berlin");
    expect(fires.map(iso)).toEqual([
      "2025-03-29T08:00:00.000Z",
      "2025-03-30T07:00:00.000Z",
      "2025-03-31T07:00:00.000Z",
    ]);
  });
});

describe("schedule in a function definition", () => {
  const parseTask = taskParser(parsePluginConfig({}));
  const build = (schedule: unknown) =>
    buildFunctionSpec("nightly", { command: "/bin/true", schedule }, { source: "api", parseTask });
  function issues(schedule: unknown): { path: string; message: string }[] {
    try {
      build(schedule);
    } catch (err) {
      if (err instanceof ValidationError) return err.issues;
      throw err;
    }
    throw new Error("expected a ValidationError");
  }

  test("defaults: UTC, enabled, overlap allow (Nomad), catch_up skip", () => {
    const s = scheduleOf(build({ cron: "*/5 * * * *" }));
    expect(s).toMatchObject({
      timeZone: "UTC",
      enabled: true,
      overlap: "allow",
      catchUp: "skip",
      jitterMs: 0,
    });
    expect(s?.crons.map((c) => c.source)).toEqual(["*/5 * * * *"]);
    // A bare string is short for { cron = "..." }.
    expect(scheduleOf(build("@hourly"))?.crons.map((c) => c.source)).toEqual(["@hourly"]);
  });

  test("all fields", () => {
    const s = scheduleOf(
      build({
        crons: ["0 3 * * *", "0 15 * * *"],
        time_zone: "Europe/Berlin",
        payload: "hello",
        enabled: false,
        overlap: "forbid",
        catch_up: "once",
        jitter: "30s",
      }),
    );
    expect(s).toMatchObject({
      timeZone: "Europe/Berlin",
      enabled: false,
      overlap: "forbid",
      catchUp: "once",
    });
    expect(s?.jitterMs).toBe(30_000);
    expect(new TextDecoder().decode(s?.payload ?? new Uint8Array())).toBe("hello");
  });

  test("bad schedules are refused with JSON pointers and clear messages", () => {
    expect(issues({ cron: "0 */5 * * * *" })).toEqual([
      { path: "/schedule/cron", message: expect.stringContaining("has 6 fields; Bunker takes exactly 5") },
    ]);
    expect(issues({ crons: ["* * * * *", "99 * * * *"] })).toEqual([
      {
        path: "/schedule/crons/1",
        message: expect.stringContaining("minute field: 99 is out of range 0-59"),
      },
    ]);
    expect(issues({ cron: "@daily", time_zone: "Europe/Atlantis" })).toEqual([
      { path: "/schedule/time_zone", message: 'Invalid time zone "Europe/Atlantis"' },
    ]);
    expect(issues({ cron: "@daily", overlap: "prohibit" })[0]?.path).toBe("/schedule/overlap");
    expect(issues({ cron: "@daily", catch_up: "all" })[0]?.path).toBe("/schedule/catch_up");
    expect(issues({ cron: "@daily", jitter: "soon" })[0]).toEqual({
      path: "/schedule/jitter",
      message: 'must be a duration like "30s" or a number of milliseconds',
    });
    expect(issues({ time_zone: "UTC" })).toEqual([
      { path: "/schedule", message: 'set exactly one of "cron" or "crons"' },
    ]);
    expect(issues({ cron: "@daily", crons: ["@daily"] })[0]?.message).toBe(
      'set exactly one of "cron" or "crons"',
    );
    expect(issues({ cron: "@daily", every_ms: 10 })[0]?.path).toBe("/schedule");
  });
});
