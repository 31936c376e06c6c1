import { beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  checkDeniedIds,
  idInRanges,
  parseGroup,
  parseIdRanges,
  parsePasswd,
  resolveUser,
} from "../../src/driver/users.ts";
import { ValidationError } from "../../src/errors.ts";

const PASSWD = `root:x:0:0:root:/root:/bin/bash
# a comment

daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
app:x:1000:1000:App,,,:/home/app:/bin/sh
broken:x:notanumber:1::/:/bin/sh
short:x:5
toor:x:0:0::/root:/bin/sh
1234:x:2000:2000::/home/numeric:/bin/sh
`;

const GROUP = `root:x:0:
daemon:x:1:
nogroup:x:65534:
app:x:1000:
docker:x:999:app,other
audio:x:29:other, app
bad:x:zz:app
`;

let root = "";
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "users-"));
  mkdirSync(join(root, "etc"));
  writeFileSync(join(root, "etc/passwd"), PASSWD);
  writeFileSync(join(root, "etc/group"), GROUP);
});

function errorOf(fn: () => unknown): ValidationError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return err as ValidationError;
  }
  throw new Error("expected a ValidationError");
}

describe("parsing", () => {
  test("passwd skips comments, blanks and malformed lines", () => {
    const names = parsePasswd(PASSWD).map((p) => p.name);
    expect(names).toEqual(["root", "daemon", "nobody", "app", "toor", "1234"]);
    expect(parsePasswd(PASSWD)[3]).toEqual({
      name: "app",
      uid: 1000,
      gid: 1000,
      home: "/home/app",
      shell: "/bin/sh",
    });
  });

  test("group members", () => {
    const g = parseGroup(GROUP);
    expect(g.find((x) => x.name === "docker")?.members).toEqual(["app", "other"]);
    expect(g.find((x) => x.name === "audio")?.members).toEqual(["other", "app"]);
    expect(g.some((x) => x.name === "bad")).toBe(false);
  });
});

describe("resolveUser", () => {
  test("by name, with supplementary groups (primary first)", () => {
    expect(resolveUser("app", { root })).toEqual({
      uid: 1000,
      gid: 1000,
      groups: [1000, 999, 29],
      home: "/home/app",
      name: "app",
    });
  });

  test("empty user means nobody", () => {
    const u = resolveUser("", { root });
    expect(u.name).toBe("nobody");
    expect(u.uid).toBe(65534);
    expect(u.gid).toBe(65534);
  });

  test("by numeric uid present in passwd", () => {
    expect(resolveUser("1", { root }).name).toBe("daemon");
  });

  test("a name that looks numeric wins over a uid", () => {
    expect(resolveUser("1234", { root }).uid).toBe(2000);
  });

  test("a bare uid not in passwd gets gid = uid, never gid 0", () => {
    expect(resolveUser("4242", { root })).toEqual({
      uid: 4242,
      gid: 4242,
      groups: [4242],
      home: "/",
      name: "4242",
    });
  });

  test("unknown name", () => {
    const err = errorOf(() => resolveUser("ghost", { root }));
    expect(err.message).toBe('user "ghost" not found');
    expect(err.issues[0]?.path).toBe("/user");
  });

  test("a root without passwd knows no names", () => {
    const empty = mkdtempSync(join(tmpdir(), "users-empty-"));
    expect(errorOf(() => resolveUser("nobody", { root: empty })).message).toBe('user "nobody" not found');
  });

  test("uid 0 is refused unless allowed, under any name", () => {
    for (const name of ["root", "0", "toor"]) {
      expect(errorOf(() => resolveUser(name, { root })).message).toContain("is disallowed");
    }
    expect(resolveUser("root", { root, allowRoot: true }).uid).toBe(0);
    expect(resolveUser("toor", { root, allowRoot: true }).uid).toBe(0);
  });

  test("denied uids and gids", () => {
    expect(errorOf(() => resolveUser("app", { root, deniedHostUids: "0,900-1000" })).message).toBe(
      "running as uid 1000 is disallowed",
    );
    expect(errorOf(() => resolveUser("app", { root, deniedHostGids: "999" })).message).toBe(
      "running as gid 999 is disallowed",
    );
    expect(
      resolveUser("app", { root, deniedHostUids: "0,1001-2000", deniedHostGids: "0-28,30-998" }).uid,
    ).toBe(1000);
  });
});

describe("id ranges", () => {
  test("parse", () => {
    expect(parseIdRanges("0,10-15")).toEqual([
      [0, 0],
      [10, 15],
    ]);
    expect(parseIdRanges(" 1 , 2 - 3 ,")).toEqual([
      [1, 1],
      [2, 3],
    ]);
    expect(parseIdRanges("")).toEqual([]);
  });

  test("membership", () => {
    const r = parseIdRanges("0,10-15");
    expect(idInRanges(0, r)).toBe(true);
    expect(idInRanges(10, r)).toBe(true);
    expect(idInRanges(15, r)).toBe(true);
    expect(idInRanges(16, r)).toBe(false);
    expect(idInRanges(5, r)).toBe(false);
  });

  test.each(["a", "5-1", "1-", "-3", "1-2-3", "99999999999"])("invalid %p", (spec) => {
    const err = errorOf(() => parseIdRanges(spec, "denied_host_gids"));
    expect(err.message).toStartWith(`denied_host_gids: invalid id range`);
    expect(err.issues[0]?.path).toBe("/denied_host_gids");
  });

  test("checkDeniedIds checks every group", () => {
    const user = { uid: 5, gid: 5, groups: [5, 12], home: "/", name: "x" };
    expect(errorOf(() => checkDeniedIds(user, "", "10-15")).message).toBe("running as gid 12 is disallowed");
    expect(errorOf(() => checkDeniedIds(user, "5", "")).message).toBe("running as uid 5 is disallowed");
    expect(() => checkDeniedIds(user, "0", "0")).not.toThrow();
  });
});
