import type { Context } from "hono";
import type { ExecOptions, ExecSession } from "../../driver/api.ts";
import { errorMessage } from "../../errors.ts";
import type { GatewayDeps } from "../deps.ts";
import { type AuthEnv, assertScope } from "../middleware/auth.ts";
import { ProblemError } from "../problem.ts";
import { ExecClientFrameSchema, ExecQuerySchema, parseInput } from "../schemas.ts";
import { isUpgrade, type SocketEvents, upgrade } from "../ws.ts";

type Frame = { stdout: string } | { stderr: string } | { exit: number } | { error: string };
type Socket = Bun.ServerWebSocket<SocketEvents>;

/** Output waits while this much is queued on the socket (a slow client slows the process). */
const MAX_BUFFERED = 1024 * 1024;

function send(ws: Socket, frame: Frame): void {
  if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(frame));
}

async function pump(ws: Socket, src: ReadableStream<Uint8Array> | null, key: "stdout" | "stderr") {
  if (!src) return;
  try {
    for await (const chunk of src) {
      while (ws.readyState === WebSocket.OPEN && ws.getBufferedAmount() > MAX_BUFFERED) await Bun.sleep(5);
      send(ws, { [key]: Buffer.from(chunk).toString("base64") } as Frame);
    }
  } catch {
    // the process's pipe broke: its exit frame follows
  }
}

/**
 * One exec session over a WebSocket: JSON text frames `{stdin}`, `{resize}`, `{close}` in;
 * `{stdout}`, `{stderr}`, then `{exit}` out (or `{error}`), then the socket closes.
 */
export function execSocket(start: () => Promise<ExecSession>): SocketEvents {
  let ready: Promise<ExecSession | undefined> = Promise.resolve(undefined);
  let inbox: Promise<void> = Promise.resolve();
  let exited = false;
  return {
    open(ws) {
      ready = start().then(
        (session) => {
          const output = Promise.all([
            pump(ws, session.stdout, "stdout"),
            pump(ws, session.stderr, "stderr"),
          ]);
          void session.wait().then(async (r) => {
            exited = true;
            await output;
            send(ws, { exit: r.exitCode });
            ws.close(1000, "exited");
          });
          return session;
        },
        (err: unknown) => {
          send(ws, { error: errorMessage(err) });
          ws.close(1011, "exec failed");
          return undefined;
        },
      );
    },
    message(ws, data) {
      // Frames apply in order; stdin writes wait for the pipe (back-pressure).
      inbox = inbox.then(async () => {
        const session = await ready;
        if (!session || exited) return;
        let frame: unknown;
        try {
          frame = JSON.parse(typeof data === "string" ? data : "");
        } catch {
          return send(ws, { error: "send JSON text frames: {stdin}, {resize} or {close}" });
        }
        const f = ExecClientFrameSchema.safeParse(frame);
        if (!f.success) return send(ws, { error: `bad frame: ${f.error.issues[0]?.message ?? "invalid"}` });
        try {
          if ("stdin" in f.data) await session.stdin.write(Buffer.from(f.data.stdin, "base64"));
          else if ("resize" in f.data) session.resize(f.data.resize.cols, f.data.resize.rows);
          else await session.stdin.end();
        } catch (err) {
          send(ws, { error: errorMessage(err) });
        }
      });
    },
    close() {
      // The client went away: nobody reads the rest.
      void ready.then((session) => {
        if (session && !exited) session.signal("SIGKILL");
      });
    },
  };
}

/** GET /system/invocations/{id}/exec: Nomad `alloc exec` over a WebSocket (admin scope). */
export async function execRoute(deps: GatewayDeps, c: Context<AuthEnv>): Promise<Response> {
  assertScope(c, "admin");
  const q = parseInput(ExecQuerySchema, c.req.query(), "exec query");
  const exec = await deps.invocations.execTarget(c.req.param("id") ?? "");
  if (!isUpgrade(c.req.raw)) {
    throw new ProblemError("upgrade_required", "connect with a WebSocket (Upgrade: websocket)");
  }
  const [command, ...args] = q.command;
  const opts: ExecOptions = { tty: q.tty === "true" || q.tty === "1" };
  if (q.cols !== undefined) opts.cols = q.cols;
  if (q.rows !== undefined) opts.rows = q.rows;
  const res = upgrade(
    c,
    execSocket(() => exec(command, args, opts)),
  );
  if (!res) throw new ProblemError("upgrade_required", "the WebSocket handshake did not complete");
  return res;
}
