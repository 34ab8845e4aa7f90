import { describe, expect, it } from "vitest";
import { createLogger, REDACTED, scrubText, withFields } from "./log.server";

function capture() {
  const lines: { line: string; level: string }[] = [];
  const logger = createLogger("debug", (line, level) => lines.push({ line, level }));
  return { logger, lines, last: () => JSON.parse(lines.at(-1)!.line) as Record<string, unknown> };
}

describe("log lines", () => {
  it("are one JSON object: time, level and message first, then the fields in order", () => {
    const { logger, lines, last } = capture();
    logger.info("tool call", { toolId: "tool_abc", status: 200, ok: true, none: null, list: [1, "two"] });
    expect(Object.keys(last())).toEqual(["time", "level", "msg", "toolId", "status", "ok", "none", "list"]);
    expect(last()).toMatchObject({ level: "info", msg: "tool call", toolId: "tool_abc", status: 200, ok: true, none: null, list: [1, "two"] });
    expect(new Date(last().time as string).toISOString()).toBe(last().time);
    expect(lines[0]!.line).not.toContain("\n");
  });

  it("leave out what has no JSON form, as JSON.stringify of an object would", () => {
    const { logger, last } = capture();
    logger.warn("odd values", { gone: undefined, fn: () => 1, kept: "yes", when: new Date(0) });
    expect(last()).toEqual({ time: expect.any(String), level: "warn", msg: "odd values", kept: "yes", when: "1970-01-01T00:00:00.000Z" });
  });

  it("never let a field pass for the line's own time, level or message", () => {
    const { logger, last } = capture();
    logger.error("the real message", { msg: "forged", level: "debug", time: "yesterday" });
    expect(last()).toMatchObject({ level: "error", msg: "the real message", field_msg: "forged", field_level: "debug", field_time: "yesterday" });
  });

  it("redact secret fields and secrets inside text, at any depth", () => {
    const { logger, lines } = capture();
    logger.info("request failed Bearer tga_abcdefghijkl", {
      token: "anything",
      nested: { clientSecret: "s3cret", url: "https://x.test/cb?code=abc&state=xyz", note: "id_with_underscores" },
      error: new Error("refresh tgr_abcdefghijklmnop was replayed"),
    });
    const line = lines[0]!.line;
    for (const secret of ["tga_abcdefghijkl", "anything", "s3cret", "code=abc", "state=xyz", "tgr_abcdefghijklmnop"]) expect(line).not.toContain(secret);
    const entry = JSON.parse(line) as { msg: string; token: string; nested: Record<string, string> };
    expect(entry.token).toBe(REDACTED);
    expect(entry.nested.note).toBe("id_with_underscores");
    expect(entry.msg).toBe(`request failed Bearer ${REDACTED}`);
  });

  it("scrubText leaves text without a secret's markers as it is and finds the markers anywhere", () => {
    expect(scrubText("srv_abc_def/tool_3")).toBe("srv_abc_def/tool_3");
    expect(scrubText("x tgc_abcdefghij y")).toBe(`x ${REDACTED} y`);
    expect(scrubText("basic\tdXNlcjpwYXNz")).toBe(`basic ${REDACTED}`);
    expect(scrubText("/cb?password=hunter2")).toBe(`/cb?password=${REDACTED}`);
  });

  it("withFields puts its fields first; a line's own field of the same name wins", () => {
    const { logger, last, lines } = capture();
    const request = withFields(logger, { requestId: "r1", route: "/mcp" });
    request.info("one", { status: 200 });
    expect(Object.entries(last()).slice(3)).toEqual([["requestId", "r1"], ["route", "/mcp"], ["status", 200]]);
    request.info("two", { route: "/token" });
    expect(Object.entries(last()).slice(3)).toEqual([["requestId", "r1"], ["route", "/token"]]);
    withFields(request, { step: 2 }).debug("three");
    expect(Object.entries(last()).slice(3)).toEqual([["requestId", "r1"], ["route", "/mcp"], ["step", 2]]);
    // Names are data: one that objects inherit, or "__proto__" from parsed JSON, is a field like any other.
    withFields(logger, { constructor: "c" }).info("four", JSON.parse('{"__proto__":{"polluted":true}}') as Record<string, unknown>);
    expect(lines.at(-1)!.line).toContain('"constructor":"c","__proto__":{"polluted":true}}');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("a value that cannot be serialised gives a line that says so, with the request id", () => {
    const { logger, last } = capture();
    withFields(logger, { requestId: "r2" }).info("bad", { big: 1n });
    expect(last()).toMatchObject({ level: "info", msg: "bad", requestId: "r2", unserialisable: true });
  });

  it("lines below the level are not written", () => {
    const lines: string[] = [];
    const logger = createLogger("warn", (line) => lines.push(line));
    withFields(logger, { requestId: "r" }).info("quiet");
    logger.debug("quiet");
    logger.warn("loud");
    expect(lines.map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual(["loud"]);
  });
});
