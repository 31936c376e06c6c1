import { describe, expect, test } from "bun:test";
import { normalizeSignal, parseSignal, SIGNALS, signalName } from "../../src/driver/signals.ts";
import { ValidationError } from "../../src/errors.ts";

describe("signals", () => {
  test("table covers 1..31 with Linux numbers", () => {
    expect((Object.values(SIGNALS) as number[]).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 31 }, (_, i) => i + 1),
    );
    expect(SIGNALS.SIGHUP).toBe(1);
    expect(SIGNALS.SIGINT).toBe(2);
    expect(SIGNALS.SIGKILL).toBe(9);
    expect(SIGNALS.SIGUSR1).toBe(10);
    expect(SIGNALS.SIGTERM).toBe(15);
    expect(SIGNALS.SIGCHLD).toBe(17);
    expect(SIGNALS.SIGSTOP).toBe(19);
    expect(SIGNALS.SIGSYS).toBe(31);
  });

  test.each([
    ["SIGTERM", 15],
    ["sigterm", 15],
    ["TERM", 15],
    ["term", 15],
    [" SIGHUP ", 1],
    ["9", 9],
    [9, 9],
    ["SIGIOT", 6],
    ["poll", 29],
    ["SIGRTMIN", 34],
    ["SIGRTMIN+3", 37],
    ["rtmax-1", 63],
    ["SIGRTMAX", 64],
  ] as const)("parseSignal(%p) = %p", (input, n) => {
    expect(parseSignal(input)).toBe(n);
  });

  test.each(["SIGFOO", "", "0", "65", "SIGRTMIN-1", "SIGRTMAX+1", "SIGRTMIN+31", "1.5"])(
    "unknown %p is an error (Nomad would silently send SIGINT)",
    (input) => {
      let err: unknown;
      try {
        parseSignal(input);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).message).toBe(`unknown signal "${input}"`);
      expect((err as ValidationError).issues[0]?.path).toBe("/kill_signal");
    },
  );

  test("names of numbers", () => {
    expect(signalName(15)).toBe("SIGTERM");
    expect(signalName(34)).toBe("SIGRTMIN");
    expect(signalName(36)).toBe("SIGRTMIN+2");
    expect(signalName(64)).toBe("SIGRTMAX");
    expect(signalName(0)).toBeUndefined();
    expect(signalName(65)).toBeUndefined();
  });

  test("normalizeSignal gives the canonical name", () => {
    expect(normalizeSignal("term")).toBe("SIGTERM");
    expect(normalizeSignal(2)).toBe("SIGINT");
    expect(normalizeSignal("rtmin+1")).toBe("SIGRTMIN+1");
  });

  test("the error names the field it came from", () => {
    try {
      parseSignal("nope", "/signal");
      throw new Error("not thrown");
    } catch (err) {
      expect((err as ValidationError).issues[0]?.path).toBe("/signal");
    }
  });
});
