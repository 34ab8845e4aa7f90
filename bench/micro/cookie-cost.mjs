// Micro-benchmark: CPU cost of reading the signed session cookie (Remix createCookieSessionStorage),
// which the consent page does several times per request (root loader, requireUser, getBrowserSession).
// Usage: node bench/micro/cookie-cost.mjs
import { createCookieSessionStorage } from "@remix-run/node";
const s = createCookieSessionStorage({ cookie: { name: "toolgate", secrets: ["x".repeat(43)], httpOnly: true, sameSite: "lax", path: "/" } });
const sess = await s.getSession(); sess.set("sid", "abcdefghijklmnopqrstuvwxyz012345"); sess.set("userId", "uuuuuuuuuuuuuuuuuuuuuu");
const cookie = (await s.commitSession(sess)).split(";")[0];
for (let r = 0; r < 2; r++) {
  const n = 20000; const c0 = process.cpuUsage(); const t0 = performance.now();
  for (let i = 0; i < n; i++) await s.getSession(cookie);
  const c = process.cpuUsage(c0); console.log("getSession (verify signed cookie):", ((c.user + c.system) / n).toFixed(1), "µs CPU,", ((performance.now() - t0) * 1000 / n).toFixed(1), "µs wall");
}
