/**
 * Rendered pages leave the Node server as one answer with a Content-Length (their text is known,
 * app/entry.server.tsx), like json() answers, instead of being streamed back chunk by chunk; each
 * cookie stays its own Set-Cookie header.
 */
import http from "node:http";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { knownTextResponse } from "~/http/headers.server";
import { writeFetchResponse } from "~/http/writer.server";
import { createUser, startApp, type AppUnderTest } from "../e2e/fixtures";

/** The raw answer to one request on a fresh connection: head lines and body bytes as sent. */
function rawRequest(port: number, request: string): Promise<{ head: string[]; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = net.connect(port, "127.0.0.1", () => socket.write(request));
    socket.on("data", (d) => chunks.push(d));
    socket.on("error", reject);
    socket.on("end", () => {
      const all = Buffer.concat(chunks);
      const split = all.indexOf("\r\n\r\n");
      resolve({
        head: all.subarray(0, split).toString("latin1").split("\r\n"),
        body: all.subarray(split + 4),
      });
    });
  });
}

const header = (head: string[], name: string) =>
  head
    .filter((line) => line.toLowerCase().startsWith(`${name.toLowerCase()}:`))
    .map((line) => line.slice(name.length + 1).trim());

describe("writeFetchResponse with a known body text", () => {
  const html = "<!DOCTYPE html><html><body>Grüße ◆</body></html>";
  let server: http.Server;
  let port = 0;

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const headers = new Headers({ "Content-Type": "text/html; charset=utf-8", "X-Frame-Options": "DENY" });
      headers.append("Set-Cookie", "a=1; Path=/; HttpOnly");
      headers.append(
        "Set-Cookie",
        "b=2, with a comma; Path=/authorize; Expires=Thu, 01 Jan 2099 00:00:00 GMT",
      );
      void writeFetchResponse(req, res, knownTextResponse(html, { status: 200, headers }));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it("sends each cookie as its own header, with a Content-Length in bytes and no chunking", async () => {
    const { head, body } = await rawRequest(port, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    expect(head[0]).toMatch(/^HTTP\/1\.1 200\b/);
    expect(header(head, "Set-Cookie")).toEqual([
      "a=1; Path=/; HttpOnly",
      "b=2, with a comma; Path=/authorize; Expires=Thu, 01 Jan 2099 00:00:00 GMT",
    ]);
    expect(header(head, "Content-Length")).toEqual([String(Buffer.byteLength(html))]);
    expect(header(head, "Transfer-Encoding")).toEqual([]);
    expect(header(head, "X-Frame-Options")).toEqual(["DENY"]);
    expect(body.toString("utf8")).toBe(html);
  });

  it("answers HEAD with the length of the GET body and no body", async () => {
    const { head, body } = await rawRequest(port, "HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    expect(header(head, "Content-Length")).toEqual([String(Buffer.byteLength(html))]);
    expect(header(head, "Set-Cookie")).toHaveLength(2);
    expect(body.length).toBe(0);
  });
});

describe("pages of the built app", () => {
  let app: AppUnderTest & { stop(): Promise<void> };
  let port = 0;
  beforeAll(async () => {
    app = await startApp();
    await createUser(app, { owner: true });
    port = Number(new URL(app.url).port);
  }, 60_000);
  afterAll(async () => {
    await app?.stop();
  });

  it("answer in one piece with a Content-Length, cookies and security headers included", async () => {
    const { head, body } = await rawRequest(
      port,
      `GET /sign-in HTTP/1.1\r\nHost: ${new URL(app.url).host}\r\nConnection: close\r\n\r\n`,
    );
    expect(head[0]).toMatch(/^HTTP\/1\.1 200\b/);
    expect(header(head, "Transfer-Encoding")).toEqual([]);
    expect(header(head, "Content-Length")).toEqual([String(body.length)]);
    expect(body.toString("utf8")).toMatch(/^<!DOCTYPE html><html lang="en">[\s\S]*<\/html>$/);
    expect(header(head, "Set-Cookie")).toHaveLength(1);
    expect(header(head, "Set-Cookie")[0]).toMatch(/^toolgate=[^;]+; .*HttpOnly/);
    expect(header(head, "Content-Security-Policy")[0]).toMatch(/script-src 'self' 'nonce-[^']+'/);
    expect(header(head, "X-Request-Id")).toHaveLength(1);
  });

  it("render the not-found page with its status", async () => {
    const { head, body } = await rawRequest(
      port,
      `GET /no/such/page HTTP/1.1\r\nHost: ${new URL(app.url).host}\r\nConnection: close\r\n\r\n`,
    );
    expect(head[0]).toMatch(/^HTTP\/1\.1 404\b/);
    expect(header(head, "Content-Length")).toEqual([String(body.length)]);
    expect(body.toString("utf8")).toContain("Page not found");
    expect(app.output()).not.toContain('"unhandled error"');
  });
});
