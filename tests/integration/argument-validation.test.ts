import { monitorEventLoopDelay } from "node:perf_hooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eq } from "drizzle-orm";
import { tools } from "~/db/schema";
import type { RunningServer } from "~/http/server.server";
import { addTool } from "~/servers/servers.server";
import {
  INLINE_LIMITS,
  SCHEMA_LIMITS,
  argumentCheckPath,
  checkToolArguments,
  inlineWeight,
  schemaProblem,
} from "~/servers/json-schema.server";
import { createTestContext, type TestContext } from "../helpers/context";
import { startProtocolServer } from "../helpers/http";
import { echoSchema, grantAccess, seedServer, startToolEndpoint } from "../helpers/mcp";

/**
 * Decision 025: tool argument validation never blocks the event loop. Hostile schema/argument
 * pairs are sent over real HTTP while other clients keep calling /healthz and another server's
 * tools/list; their latencies must stay low and the hostile call must get a tool error in time.
 */

const MCP_HEADERS = { "Content-Type": "application/json", Accept: "application/json, text/event-stream" };
// Compiling has its own bound; 1.5 s of validation is far more than any legitimate case here
// needs, even on a loaded machine, and far less than uniqueItems over 20,000 objects takes.
const BUDGET_MS = 1500;

const hostileTools = [
  {
    name: "redos",
    inputSchema: { type: "object", properties: { s: { type: "string", pattern: "^(a+)+$" } } },
    path: "/echo",
  },
  {
    name: "unique",
    inputSchema: { type: "object", properties: { list: { type: "array", uniqueItems: true } } },
    path: "/echo",
  },
  {
    name: "recursive",
    inputSchema: {
      type: "object",
      $defs: { loop: { $ref: "#/$defs/loop" } },
      properties: { x: { $ref: "#/$defs/loop" } },
    },
    path: "/echo",
  },
  {
    name: "nested_any",
    inputSchema: {
      type: "object",
      $defs: {
        n: {
          anyOf: [
            { type: "array", items: { $ref: "#/$defs/n" } },
            { type: "array", items: { $ref: "#/$defs/n" }, minItems: 0 },
          ],
        },
      },
      properties: { x: { $ref: "#/$defs/n" } },
    },
    path: "/echo",
  },
  {
    name: "redos_keys",
    inputSchema: {
      type: "object",
      patternProperties: { "^(a|aa)+$": { type: "string" } },
      propertyNames: { pattern: "^(a*)*b?$" },
    },
    path: "/echo",
  },
  { name: "echo", inputSchema: echoSchema, path: "/echo" },
];

function p(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
}

describe("decision 025: tool argument validation stays off the event loop's critical path", () => {
  let ctx: TestContext;
  let app: RunningServer;
  let endpoint: Awaited<ReturnType<typeof startToolEndpoint>>;
  let hostileUrl: string;
  let hostileToken: string;
  let otherUrl: string;
  let otherToken: string;
  let hostileServer: { userId: string; serverId: string };

  let rpcId = 1;
  async function rpc(url: string, token: string, method: string, params: unknown) {
    const res = await fetch(url, {
      method: "POST",
      headers: { ...MCP_HEADERS, Authorization: `Bearer ${token}`, "MCP-Protocol-Version": "2025-06-18" },
      body: JSON.stringify({ jsonrpc: "2.0", id: rpcId++, method, params }),
    });
    return {
      status: res.status,
      body: (await res.json()) as {
        result?: { isError?: boolean; content: { text: string }[]; tools?: unknown[] };
        error?: unknown;
      },
    };
  }
  const call = (name: string, args: unknown) =>
    rpc(hostileUrl, hostileToken, "tools/call", { name, arguments: args });

  beforeAll(async () => {
    ctx = createTestContext({ TOOLGATE_VALIDATION_TIMEOUT_MS: String(BUDGET_MS) });
    endpoint = await startToolEndpoint();
    hostileServer = await seedServer(ctx, endpoint.url, hostileTools, "Hostile");
    hostileToken = (await grantAccess(
      ctx,
      hostileServer,
      hostileTools.map((t) => t.name),
    )).tokens.accessToken;
    const other = await seedServer(
      ctx,
      endpoint.url,
      [{ name: "echo", inputSchema: echoSchema, path: "/echo" }],
      "Other",
    );
    otherToken = (await grantAccess(ctx, other, ["echo"])).tokens.accessToken;
    app = await startProtocolServer(ctx);
    hostileUrl = `${app.url}/mcp/${hostileServer.serverId}`;
    otherUrl = `${app.url}/mcp/${other.serverId}`;
  });

  afterAll(async () => {
    await app.close(100);
    await endpoint.close();
    ctx.cleanup();
  });

  it("a catastrophic-backtracking pattern is decided at once by the linear-time engine", async () => {
    const started = performance.now();
    const refused = await call("redos", { s: "a".repeat(26) + "!" });
    expect(refused.body.result?.isError).toBe(true);
    expect(refused.body.result?.content[0]?.text).toBe(
      'Invalid arguments for tool redos: /s must match pattern "^(a+)+$"',
    );
    const long = await call("redos", { s: "a".repeat(100_000) + "!" });
    expect(long.body.result?.content[0]?.text).toContain("must match pattern");
    // The same engine runs patternProperties keys and propertyNames.
    const keys = await call("redos_keys", { [`${"a".repeat(40)}!`]: "x" });
    expect(keys.body.result?.content[0]?.text).toMatch(
      /^Invalid arguments for tool redos_keys: .*must match pattern/,
    );
    const accepted = await call("redos", { s: "a".repeat(40) });
    expect(accepted.body.result?.isError).toBeFalsy();
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it("hostile calls get a clear tool error within the budget while /healthz and another server's tools/list keep answering", async () => {
    const distinct = JSON.stringify({
      list: Array.from({ length: 20_000 }, (_, i) => ({ id: i })),
    });
    let deep = "0";
    // Within the body nesting cap, but each level doubles the work of the schema below.
    for (let i = 0; i < 55; i++) deep = `[${deep}]`;
    // Two workers for four hostile calls at once: any of them may run out of its time waiting for
    // one, so "in time" is a correct answer for each; what each gets alone is tested below.
    const hostileBodies: { name: string; args: string; expect: RegExp }[] = [
      { name: "unique", args: distinct, expect: /could not be validated in time/ },
      {
        name: "recursive",
        args: JSON.stringify({ x: 1 }),
        expect: /has an invalid input schema|could not be validated in time/,
      },
      {
        name: "nested_any",
        args: `{"x":${deep}}`,
        expect: /could not be validated in time|has an invalid input schema|Invalid arguments/,
      },
      {
        name: "redos",
        args: JSON.stringify({ s: "a".repeat(500_000) + "!" }),
        expect: /must match pattern|could not be validated in time/,
      },
    ];

    const latencies = { healthz: [] as number[], toolsList: [] as number[] };
    let running = true;
    const hammer = async (kind: keyof typeof latencies, once: () => Promise<unknown>) => {
      while (running) {
        const t0 = performance.now();
        await once();
        latencies[kind].push(performance.now() - t0);
      }
    };
    const loop = monitorEventLoopDelay({ resolution: 5 });
    const healthz = hammer("healthz", async () => {
      const res = await fetch(`${app.url}/healthz`);
      expect(res.status).toBe(200);
      await res.arrayBuffer();
    });
    const toolsList = hammer("toolsList", async () => {
      const { body } = await rpc(otherUrl, otherToken, "tools/list", {});
      expect(body.result?.tools).toHaveLength(1);
    });
    // Warm up the clients and the worker pool, then measure a quiet phase of the same length as
    // the hostile one: on a shared machine the others' latency is noisy without any hostile call.
    await call("unique", { list: [1, 2] });
    await new Promise((r) => setTimeout(r, 200));
    latencies.healthz.length = 0;
    latencies.toolsList.length = 0;
    const quietStarted = performance.now();
    await new Promise((r) => setTimeout(r, 3_000));
    const quiet = {
      healthz: p(latencies.healthz, 0.99),
      toolsList: p(latencies.toolsList, 0.99),
      ms: performance.now() - quietStarted,
    };
    latencies.healthz.length = 0;
    latencies.toolsList.length = 0;
    loop.enable();

    const outcomes: { name: string; ms: number; text: string }[] = [];
    try {
      // Each hostile client repeats its call for a few seconds, so that the others' p99 rests on
      // a few hundred samples rather than on the single worst one.
      const hostileUntil = performance.now() + 4_000;
      await Promise.all(
        hostileBodies.map(async (h) => {
          do {
            const t0 = performance.now();
            const res = await fetch(hostileUrl, {
              method: "POST",
              headers: {
                ...MCP_HEADERS,
                Authorization: `Bearer ${hostileToken}`,
                "MCP-Protocol-Version": "2025-06-18",
              },
              body: `{"jsonrpc":"2.0","id":${rpcId++},"method":"tools/call","params":{"name":"${h.name}","arguments":${h.args}}}`,
            });
            const body = (await res.json()) as {
              result?: { isError?: boolean; content: { text: string }[] };
            };
            outcomes.push({
              name: h.name,
              ms: performance.now() - t0,
              text: body.result?.content[0]?.text ?? JSON.stringify(body),
            });
            expect(res.status).toBe(200);
            expect(body.result?.isError).toBe(true);
            expect(body.result?.content[0]?.text).toMatch(h.expect);
          } while (performance.now() < hostileUntil);
        }),
      );
    } finally {
      loop.disable();
      running = false;
      await Promise.all([healthz, toolsList]);
    }

    const report = {
      quietP99: quiet,
      healthz: {
        n: latencies.healthz.length,
        p99: p(latencies.healthz, 0.99),
        max: Math.max(...latencies.healthz),
      },
      toolsList: {
        n: latencies.toolsList.length,
        p99: p(latencies.toolsList, 0.99),
        max: Math.max(...latencies.toolsList),
      },
      eventLoopMaxMs: loop.max / 1e6,
      hostile: outcomes.map((o) => `${o.name} ${Math.round(o.ms)} ms`),
    };
    console.info(JSON.stringify(report));
    expect(report.healthz.n).toBeGreaterThan(20);
    expect(report.toolsList.n).toBeGreaterThan(20);
    // What decision 025 guarantees is structural: the main thread never runs a hostile
    // validation, so nothing else waits for one. Had it run there, the others would wait for the
    // whole of each hostile validation: at least the 1.5 s budget (the unbounded regex and the
    // 20,000-item uniqueness check take far longer), several times over while four are in
    // flight. So the others' p99 and the event loop's longest stall must stay a small fraction
    // of one budget. Their latency in milliseconds is printed above, not asserted (with both test
    // projects running on 2 cores: p99 about 20 ms quiet and 35–50 ms beside the hostile calls,
    // against issue 13's 50 ms): a test that times requests on a shared machine fails on a busy
    // one without anything being wrong.
    expect(report.healthz.p99).toBeLessThan(BUDGET_MS / 4);
    expect(report.toolsList.p99).toBeLessThan(BUDGET_MS / 4);
    expect(report.eventLoopMaxMs).toBeLessThan(BUDGET_MS / 4);
    // Each hostile call is answered within its budget for waiting plus its budget for running,
    // plus the time to carry ~230 KB both ways.
    for (const o of outcomes) expect(o.ms, o.name).toBeLessThan(2 * BUDGET_MS + 3_000);
  }, 60_000);

  it("after a worker was stopped for overrunning, large valid arguments still pass through a fresh one", async () => {
    const list = Array.from({ length: 300 }, (_, i) => ({ id: i }));
    expect(JSON.stringify({ list }).length).toBeGreaterThan(INLINE_LIMITS.inputBytes);
    const ok = await call("unique", { list });
    expect(ok.body.result?.isError, ok.body.result?.content[0]?.text).toBeFalsy();
    expect(JSON.parse(ok.body.result!.content[0]!.text)).toEqual({ echoed: { list } });
    const dup = await call("unique", { list: [...list, { id: 0 }] });
    expect(dup.body.result?.content[0]?.text).toMatch(/must NOT have duplicate items/);
    // A schema that recurses on the same value overflows the worker's stack: a schema error.
    const loop = await call("recursive", { x: 1 });
    expect(loop.body.result?.content[0]?.text).toBe(
      "The tool recursive has an invalid input schema; its owner must fix it.",
    );
  });

  it("bodies nested deeper than 64 levels are refused before they are parsed, up to the size cap", async () => {
    // 1 MB of nested arrays: V8's JSON.parse alone would take a long while on it.
    const deep = "[".repeat(500_000) + "]".repeat(500_000);
    const t0 = performance.now();
    const res = await fetch(hostileUrl, {
      method: "POST",
      headers: {
        ...MCP_HEADERS,
        Authorization: `Bearer ${hostileToken}`,
        "MCP-Protocol-Version": "2025-06-18",
      },
      body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":${deep.slice(0, 1_000_000 - 200)}}}}`,
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      jsonrpc: "2.0",
      id: null,
      error: { code: -32700, message: "Parse error: JSON nested more than 64 levels deep" },
    });
    const register = await fetch(`${app.url}/register`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: `{"client_name":"x","redirect_uris":["http://127.0.0.1/cb"],"extra":${"[".repeat(30_000)}${"]".repeat(30_000)}}`,
    });
    expect(register.status).toBe(400);
    expect(await register.json()).toEqual({
      error: "invalid_client_metadata",
      error_description: "The request body is JSON nested more than 64 levels deep",
    });
    expect(performance.now() - t0).toBeLessThan(5_000);
    // At the limit, arguments still reach the tool.
    const ok = await call("echo", { text: "x", nested: JSON.parse("[".repeat(55) + "]".repeat(55)) });
    expect(ok.body.result?.content[0]?.text).toMatch(/must NOT have additional properties/);
  });

  it("a stored schema that no longer passes the rules (saved before them) gives the owner-must-fix error", async () => {
    const row = (await ctx.db
      .select()
      .from(tools)
      .where(eq(tools.name, "echo")))
      .find((t) => t.serverId === hostileServer.serverId)!;
    await ctx.db
      .update(tools)
      .set({
        inputSchema: JSON.stringify({
          type: "object",
          properties: { text: { type: "string", pattern: "^(?=x)" } },
        }),
        updatedAt: row.updatedAt + 1,
      })
      .where(eq(tools.id, row.id));
    const res = await call("echo", { text: "x" });
    expect(res.body.result?.content[0]?.text).toBe(
      "The tool echo has an invalid input schema; its owner must fix it.",
    );
    expect(ctx.logs.some((l) => l.includes("tool input schema does not compile"))).toBe(true);
  });
});

describe("decision 026: the nesting scan", () => {
  it("counts objects and arrays, not brackets inside strings", async () => {
    const { jsonNestingExceeds } = await import("~/utils/json.server");
    expect(jsonNestingExceeds('{"a":[[1]]}', 3)).toBe(false);
    expect(jsonNestingExceeds('{"a":[[[1]]]}', 3)).toBe(true);
    expect(jsonNestingExceeds(JSON.stringify({ s: '[[[[[[\\"{{{{{{' }), 1)).toBe(false);
    expect(jsonNestingExceeds(JSON.stringify([{ s: '"]]]"' }, [[[]]]]), 3)).toBe(true);
    expect(jsonNestingExceeds(JSON.stringify([{ s: '"]]]"' }, [[]]]), 3)).toBe(false);
  });
});

describe("decision 025: input schemas are refused when saved if their checks could not be bounded", () => {
  const obj = (props: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
    type: "object",
    properties: props,
    ...extra,
  });

  it.each([
    ["a lookahead", "^(?=.*\\d).+$"],
    ["a negative lookahead", "^(?!admin).*$"],
    ["a lookbehind", "(?<=@)x"],
    ["a backreference", "^(a)\\1$"],
    ["a repeat above 1000", "^a{1,5000}$"],
  ])("a pattern with %s is refused with a message naming RE2", (_label, pattern) => {
    expect(schemaProblem(obj({ s: { type: "string", pattern } }))).toMatch(
      /cannot be used: patterns run on a linear-time engine \(RE2\)/,
    );
    expect(schemaProblem(obj({}, { patternProperties: { [pattern]: { type: "string" } } }))).toMatch(
      /linear-time engine/,
    );
  });

  it("ordinary patterns (classes, anchors, unicode escapes, named groups) are accepted", async () => {
    for (const pattern of [
      "^[a-z0-9_.-]+@[a-z0-9.-]+$",
      "^\\d{4}-\\d{2}-\\d{2}$",
      "^\\p{L}+$",
      "\\u00e9",
      "^(?<year>\\d{4})$",
      "^[^\\s/]+\\/x$",
    ]) {
      expect(schemaProblem(obj({ s: { type: "string", pattern } })), pattern).toBeNull();
    }
  });

  it("caps depth, pattern count and total pattern length", async () => {
    let deep: Record<string, unknown> = { type: "string" };
    for (let i = 0; i < SCHEMA_LIMITS.depth; i++) deep = { type: "array", items: deep };
    expect(schemaProblem(obj({ d: deep }))).toMatch(/nested more than 64 levels/);
    const many = Object.fromEntries(
      Array.from({ length: SCHEMA_LIMITS.patterns + 1 }, (_, i) => [
        `p${i}`,
        { type: "string", pattern: `^x${i}$` },
      ]),
    );
    expect(schemaProblem(obj(many))).toMatch(/more than 200 patterns/);
    const long = Object.fromEntries(
      Array.from({ length: 9 }, (_, i) => [
        `p${i}`,
        { type: "string", pattern: `^${"a".repeat(1000)}${i}$` },
      ]),
    );
    expect(schemaProblem(obj(long))).toMatch(/longer than 8192 characters together/);
  });

  it("values of const, enum, default and examples are data, not schema", async () => {
    expect(
      schemaProblem(obj({ a: { const: { pattern: "(?=x)", $ref: "https://example.com/x" } } })),
    ).toBeNull();
    expect(
      schemaProblem(obj({ a: { enum: [{ pattern: "(a)\\1" }], default: { $ref: "#/nowhere" } } })),
    ).toBeNull();
    // A property may be named like a keyword.
    expect(schemaProblem(obj({ pattern: { type: "string" }, $ref: { type: "string" } }))).toBeNull();
  });

  it("references must point inside the schema", async () => {
    expect(schemaProblem(obj({ a: { $ref: "https://example.com/schema.json" } }))).toMatch(
      /does not point inside the schema/,
    );
    expect(schemaProblem(obj({ a: { $ref: "#/$defs/missing" } }))).toMatch(
      /does not point inside the schema/,
    );
    expect(
      schemaProblem(obj({ a: { $ref: "#/$defs/ok" } }, { $defs: { ok: { type: "string" } } })),
    ).toBeNull();
  });

  it("the same rules hold through the tool definition a form or the CLI saves", async () => {
    const ctx = createTestContext();
    try {
      const endpoint = "http://127.0.0.1:9/x";
      const seeded = await seedServer(ctx, endpoint, [], "Rules");
      await expect(
        addTool(ctx, seeded.userId, seeded.serverId, {
          name: "t",
          inputSchema: obj({ s: { type: "string", pattern: "(a)\\1" } }),
          endpoint: { url: endpoint },
        }),
      ).rejects.toThrow(/linear-time engine/);
    } finally {
      ctx.cleanup();
    }
  });
});

describe("decision 025: what is validated in the event loop is cheap in the worst case", () => {
  it("classifies recursion, uniqueItems and reference blow-ups as worker work", async () => {
    expect(inlineWeight({ type: "object", properties: { a: { type: "string" } } })).toBeLessThan(20);
    expect(inlineWeight({ type: "array", uniqueItems: true })).toBe(Infinity);
    expect(inlineWeight({ $defs: { a: { $ref: "#/$defs/a" } }, $ref: "#/$defs/a" })).toBe(Infinity);
    expect(inlineWeight({ $ref: "#" })).toBe(Infinity);
    expect(inlineWeight({ $dynamicRef: "#x" })).toBe(Infinity);
    // Each level references the next twice: 2^12 expansions from a tiny schema.
    const defs: Record<string, unknown> = { d12: { type: "string" } };
    for (let i = 0; i < 12; i++)
      defs[`d${i}`] = { allOf: [{ $ref: `#/$defs/d${i + 1}` }, { $ref: `#/$defs/d${i + 1}` }] };
    expect(JSON.stringify(defs).length).toBeLessThan(1000);
    expect(inlineWeight({ $defs: defs, $ref: "#/$defs/d0" })).toBe(Infinity);
  });

  it("the costliest schemas within the inline caps validate the largest inline arguments in a few milliseconds", async () => {
    // Adversarial shapes at the caps: many subschemas applying to every item, patterns on every
    // string, enums compared deeply, property patterns on every key.
    const items = (s: Record<string, unknown>) => (n: number) => ({
      type: "array",
      allOf: Array.from({ length: n }, () => ({ items: s })),
    });
    /** The shape repeated as often as the inline weight cap allows. */
    const atCap = (make: (n: number) => Record<string, unknown>) => {
      let n = 1;
      while (inlineWeight(make(n + 1)) <= INLINE_LIMITS.weight) n++;
      return make(n);
    };
    const shapes = [
      atCap(items({ type: "string", pattern: "^(a|b|ab)*c?$", minLength: 0 })),
      atCap(items({ anyOf: [{ type: "integer" }, { type: "string" }, { enum: [[1, 2, [3]], { a: 1 }] }] })),
      atCap((n) => ({
        type: "object",
        patternProperties: Object.fromEntries(
          Array.from({ length: n }, (_, i) => [`^k${i}(x|y)*$`, { type: "integer" }]),
        ),
      })),
      atCap(
        items({ type: "object", additionalProperties: { type: "array", contains: { const: [1, 2, 3] } } }),
      ),
      atCap(items({ not: { type: "object" }, minimum: 0 })),
    ];
    const inputs: unknown[] = [
      Array.from({ length: 400 }, () => "ab"),
      Array.from({ length: 1000 }, () => 1),
      Object.fromEntries(Array.from({ length: 150 }, (_, i) => [`k${i}`, i])),
      Array.from({ length: 100 }, () => ({ a: [0, 0], b: [0] })),
      Array.from({ length: 500 }, () => "x"),
    ];
    const validations: number[] = [];
    let version = 0;
    for (const schema of shapes) {
      expect(inlineWeight(schema), JSON.stringify(schema).slice(0, 80)).toBeLessThanOrEqual(
        INLINE_LIMITS.weight,
      );
      const tool = { id: "inline-cost", updatedAt: version++, inputSchema: JSON.stringify(schema) };
      // The first call compiles in a worker and brings back the code this thread then runs.
      expect(argumentCheckPath(tool)).toBe("inline-pending");
      await checkToolArguments(tool, [], "[]", 10_000);
      expect(argumentCheckPath(tool)).toBe("inline");
      for (const input of inputs) {
        const json = JSON.stringify(input);
        if (json.length > INLINE_LIMITS.inputBytes)
          throw new Error(`input of ${json.length} bytes is above the inline cap`);
        await checkToolArguments(tool, input, json, 10_000);
        // CPU time, not wall time, and the least of several runs: the validator's own cost. The
        // process's CPU time also counts its other threads (GC helpers, idle workers), which a
        // loaded machine makes busier; the cheapest run is the one they disturbed least.
        let least = Infinity;
        for (let i = 0; i < 7; i++) {
          const c0 = process.cpuUsage();
          await checkToolArguments(tool, input, json, 10_000);
          const used = process.cpuUsage(c0);
          least = Math.min(least, (used.user + used.system) / 1000);
        }
        validations.push(least);
      }
    }
    const worst = Math.max(...validations);
    console.info(
      `inline worst case over ${validations.length} schema/argument pairs: ${worst.toFixed(2)} ms`,
    );
    // About 2–3 ms on an idle 2-core machine, up to 9 ms while both test projects and other work
    // share it. The bound that matters is issue 13's: other requests answer within 50 ms p99, so
    // one inline validation stays well under half of that even on a loaded machine.
    expect(worst).toBeLessThan(25);
  });
});
