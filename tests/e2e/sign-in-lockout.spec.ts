import { createUser, expect, PASSWORD, startApp, test } from "./fixtures";

// No cheap lockout (docs/decisions/030-device-cookies.md), in a real browser: strangers failing from
// several addresses lock the account for browsers that never signed in, while the browser the owner
// signed in with before signs in at once.

/** A stranger at `address` (forwarded by the trusted loopback proxy) tries one wrong password. */
async function guess(url: string, email: string, address: string): Promise<{ status: number; retryAfter: number }> {
  const headers = { "X-Forwarded-For": address };
  const page = await fetch(`${url}/sign-in`, { headers });
  const cookie = page.headers.getSetCookie().map((c) => c.split(";")[0]).join("; ");
  const csrf = /name="csrf" value="([^"]+)"/.exec(await page.text())![1]!;
  const res = await fetch(`${url}/sign-in`, {
    method: "POST",
    redirect: "manual",
    headers: { ...headers, Cookie: cookie, Origin: url, "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ csrf, email, password: `wrong ${address}` }),
  });
  return { status: res.status, retryAfter: Number(res.headers.get("retry-after") ?? 0) };
}

test("the owner's browser signs in while strangers have locked the account", async ({ browser }) => {
  const app = await startApp({ TOOLGATE_RATE_LIMIT: "on", TOOLGATE_TRUSTED_PROXIES: "loopback" });
  let attacking = false;
  try {
    const owner = await createUser(app, { owner: true });
    const trusted = await browser.newContext();
    const page = await trusted.newPage();
    const signInWith = async (p: typeof page) => {
      await p.goto(`${app.url}/sign-in`);
      await p.getByLabel("Email").fill(owner.email);
      await p.getByLabel("Password").fill(PASSWORD);
      await p.getByRole("button", { name: "Sign in" }).click();
    };
    await signInWith(page);
    await page.waitForURL((u) => !u.pathname.startsWith("/sign-in"));
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL((u) => u.pathname === "/sign-in" || u.pathname === "/");

    // The strangers keep guessing from rotating addresses for as long as the test runs.
    const statuses: number[] = [];
    let longestWait = 0;
    attacking = true;
    const attack = (async () => {
      for (let n = 0; attacking; n++) {
        const { status, retryAfter } = await guess(app.url, owner.email, `203.0.113.${(n % 50) + 1}`);
        statuses.push(status);
        longestWait = Math.max(longestWait, retryAfter);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    // Once the app stops (a failed test), the loop's next request fails; nobody waits for it then.
    attack.catch(() => undefined);
    // Each failure past the free ones doubles the block; wait until it is long enough to test in.
    await expect.poll(() => longestWait, { timeout: 40_000 }).toBeGreaterThanOrEqual(8);

    // A browser that never signed in is told to wait, even with the right password.
    const stranger = await browser.newContext();
    const other = await stranger.newPage();
    await signInWith(other);
    await expect(other.getByText(/Too many failed sign-in attempts/)).toBeVisible();
    await stranger.close();

    // The owner's browser signs in at once.
    await signInWith(page);
    await page.waitForURL((u) => !u.pathname.startsWith("/sign-in"));
    await expect(page.getByRole("button", { name: "Sign out" })).toBeVisible();
    await trusted.close();
    attacking = false;
    await attack;
    expect(statuses.filter((s) => s === 401).length).toBeGreaterThanOrEqual(5);
  } finally {
    attacking = false;
    await app.stop();
  }
});
