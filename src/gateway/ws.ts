import type { Context } from "hono";

/** What one WebSocket connection does; carried as the socket's data by Bun.serve. */
export interface SocketEvents {
  open(ws: Bun.ServerWebSocket<SocketEvents>): void;
  message(ws: Bun.ServerWebSocket<SocketEvents>, data: string | Buffer): void;
  close(ws: Bun.ServerWebSocket<SocketEvents>, code: number, reason: string): void;
}

/** Bun.serve's `websocket` option: hands every event to the connection's own handlers. */
export const websocketHandler: Bun.WebSocketHandler<SocketEvents> = {
  open: (ws) => ws.data.open(ws),
  message: (ws, data) => ws.data.message(ws, data),
  close: (ws, code, reason) => ws.data.close(ws, code, reason),
};

export function isUpgrade(req: Request): boolean {
  return req.headers.get("upgrade")?.toLowerCase() === "websocket";
}

/**
 * Upgrades the request (Bun passes its server as the Hono env). Null when there is no Bun
 * server to upgrade on (app.request() in tests) or the handshake was refused.
 */
export function upgrade(c: Context, events: SocketEvents): Response | null {
  const server = c.env as Bun.Server<SocketEvents> | undefined;
  if (typeof server?.upgrade !== "function") return null;
  // Bun answers the handshake itself; the route returns an empty placeholder.
  return server.upgrade(c.req.raw, { data: events }) ? new Response(null) : null;
}
