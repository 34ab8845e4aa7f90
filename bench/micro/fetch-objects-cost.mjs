// Micro-benchmark: CPU cost of the WHATWG fetch objects a protocol route builds per request in
// Node (undici's Request, Headers, Response, and reading a Response body).
// Usage: node bench/micro/fetch-objects-cost.mjs
const headersObj = {
  host: "127.0.0.1:3000",
  authorization: "Bearer tga_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
  "content-type": "application/json",
  accept: "application/json, text/event-stream",
  "mcp-protocol-version": "2025-11-25",
  "content-length": "58",
};
const text = JSON.stringify({ jsonrpc: "2.0", id: 1, result: { tools: [] } });

async function time(label, fn, n = 30_000) {
  for (let i = 0; i < 2000; i++) await fn();
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) await fn();
  const c = process.cpuUsage(c0);
  console.log(`${label.padEnd(64)} ${((c.user + c.system) / n).toFixed(1).padStart(6)} µs CPU`);
}
console.log(`node ${process.version}`);
await time("new Request(url, { method: GET, headers: object })", () => new Request("http://127.0.0.1:3000/x", { headers: headersObj }));
await time("new Request(url, { method: POST, headers, body: string })", () =>
  new Request("http://127.0.0.1:3000/x", { method: "POST", headers: headersObj, body: text }));
await time("... and await request.text()", () =>
  new Request("http://127.0.0.1:3000/x", { method: "POST", headers: headersObj, body: text }).text());
await time("new Request(url, { headers, signal: new AbortController().signal })", () =>
  new Request("http://127.0.0.1:3000/x", { headers: headersObj, signal: new AbortController().signal }));
await time("new AbortController() alone", () => new AbortController());
await time("new Headers() + 3 set()", () => {
  const h = new Headers();
  h.set("Content-Type", "application/json");
  h.set("X-Content-Type-Options", "nosniff");
  h.set("Cache-Control", "no-store");
});
await time("new Response(string, { headers: Headers })", () => {
  const h = new Headers();
  h.set("Content-Type", "application/json");
  return new Response(text, { status: 200, headers: h });
});
await time("new Response(string) and await response.text()", () => new Response(text).text());
await time("new Response(string): read with getReader() (sendResponse's way)", async () => {
  const reader = new Response(text).body.getReader();
  for (;;) if ((await reader.read()).done) break;
});
await time("new Response(null, { headers }) (no body stream)", () => new Response(null, { status: 204, headers: { a: "b" } }));
await time("for..of response.headers (3 headers)", () => {
  const h = new Headers({ "content-type": "application/json", "x-a": "1", "x-b": "2" });
  const out = {};
  for (const [k, v] of h) out[k] = v;
});
