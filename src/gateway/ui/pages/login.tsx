import type { Context } from "hono";
import { Layout } from "../components.tsx";
import { page } from "../render.ts";

export function loginPage(c: Context, next: string, error?: string) {
  return page(
    c,
    <Layout title="Sign in" section="">
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <form method="post" action={`/ui/login?next=${encodeURIComponent(next)}`}>
        <label for="token">API token</label>
        <input id="token" name="token" type="password" autocomplete="current-password" required />
        <p>
          <button type="submit">Sign in</button>
        </p>
      </form>
      <p class="muted">The token is kept in an HttpOnly cookie for this dashboard only.</p>
    </Layout>,
    error ? 401 : 200,
  );
}
