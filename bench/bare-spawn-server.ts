/**
 * The baseline of bench/http.ts: a bare Bun.serve handler that runs
 * /bin/true with Bun.spawn per request — no isolation, no gateway, no records.
 */
const server = Bun.serve({
  port: Number(process.env.PORT ?? 0),
  hostname: "127.0.0.1",
  async fetch() {
    const p = Bun.spawn(["/bin/true"], { stdout: "ignore", stderr: "ignore", stdin: "ignore" });
    const code = await p.exited;
    return new Response("", { status: code === 0 ? 200 : 500 });
  },
});
console.log(server.url.href);
