import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { endWith } from "./writer.server";

let server: http.Server | undefined;
afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

/** Serves one answer written by `write` and returns the raw header lines and body the client got. */
async function answerOf(write: (res: http.ServerResponse) => void): Promise<{ status: number; raw: string[]; body: string }> {
  server = http.createServer((_req, res) => write(res));
  await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return new Promise((resolve, reject) => {
    http
      .get({ host: "127.0.0.1", port, path: "/", agent: false }, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (body += chunk));
        res.on("end", () => resolve({ status: res.statusCode!, raw: res.rawHeaders, body }));
      })
      .on("error", reject);
  });
}

const named = (raw: string[], name: string) => raw.filter((_, i) => i % 2 === 0 && raw[i]!.toLowerCase() === name).length;
const valueOf = (raw: string[], name: string) => raw[raw.findIndex((h, i) => i % 2 === 0 && h.toLowerCase() === name) + 1];

describe("endWith", () => {
  it("writes the base headers, the answer's own and its byte length in one header block", async () => {
    const base = ["X-Request-Id", "req-1", "X-Content-Type-Options", "nosniff"];
    const { status, raw, body } = await answerOf((res) => endWith(res, 201, { "Content-Type": "application/json" }, '{"ok":"é"}', false, base));
    expect(status).toBe(201);
    expect(body).toBe('{"ok":"é"}');
    expect(valueOf(raw, "x-request-id")).toBe("req-1");
    expect(valueOf(raw, "x-content-type-options")).toBe("nosniff");
    expect(valueOf(raw, "content-type")).toBe("application/json");
    // Bytes, not characters: "é" is two.
    expect(valueOf(raw, "content-length")).toBe(String(Buffer.byteLength('{"ok":"é"}')));
    expect(named(raw, "transfer-encoding")).toBe(0);
  });

  it("lets the answer's own header take the place of a base header of the same name (one Connection header)", async () => {
    const { raw } = await answerOf((res) => endWith(res, 413, { Connection: "close", "Content-Type": "application/json" }, "{}", false, ["Connection", "close", "X-Request-Id", "r"]));
    expect(named(raw, "connection")).toBe(1);
    expect(valueOf(raw, "x-request-id")).toBe("r");
  });

  it("keeps headers already set on the response (a draining server's Connection: close) and repeated ones", async () => {
    const { raw } = await answerOf((res) => {
      res.setHeader("Connection", "close");
      endWith(res, 200, { "Set-Cookie": ["a=1", "b=2"] }, "x", false, ["X-Request-Id", "r"]);
    });
    expect(valueOf(raw, "connection")).toBe("close");
    expect(named(raw, "set-cookie")).toBe(2);
    expect(valueOf(raw, "x-request-id")).toBe("r");
  });

  it("sends no Content-Length on 204 and 304", async () => {
    const { raw } = await answerOf((res) => endWith(res, 204, { "Cache-Control": "no-store" }, null, false, ["X-Request-Id", "r"]));
    expect(named(raw, "content-length")).toBe(0);
  });
});
