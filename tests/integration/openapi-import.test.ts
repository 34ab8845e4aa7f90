import fs from "node:fs";
import path from "node:path";
import { Ajv2020 } from "ajv/dist/2020.js";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { fetchOpenApiDocument, OPENAPI_LIMITS, parseOpenApiDocument, type ParsedDocument } from "~/servers/openapi-import.server";
import { closeUpstreamPools } from "~/servers/upstream-http.server";

const FIXTURES = path.resolve(import.meta.dirname, "../fixtures/openapi");
const fixture = (name: string) => fs.readFileSync(path.join(FIXTURES, name), "utf8");

/** Every schema compiles in a fresh Ajv 2020-12 instance (not the app's). */
function expectValidSchemas(parsed: ParsedDocument) {
  const ajv = new Ajv2020({ strict: false, validateFormats: false, logger: false });
  for (const op of parsed.operations) {
    if (!op.tool) continue;
    expect(() => ajv.compile(op.tool!.inputSchema), op.key).not.toThrow();
    expect(op.tool.inputSchema.type, op.key).toBe("object");
    expect(JSON.stringify(op.tool.inputSchema), op.key).not.toContain('"$ref"');
    if (op.tool.outputSchema) expect(() => ajv.compile(op.tool!.outputSchema!), op.key).not.toThrow();
  }
}

describe("OpenAPI import: real documents", () => {
  it("OAI Petstore 3.0 (YAML): three tools with names, schemas and annotations", async () => {
    const parsed = await parseOpenApiDocument(fixture("petstore-3.0.yaml"));
    expect(parsed.servers).toEqual(["http://petstore.swagger.io/v1"]);
    expect(parsed.operations.map((o) => [o.key, o.toolName, o.refused])).toEqual([
      ["GET /pets", "listPets", null],
      ["POST /pets", "createPets", null],
      ["GET /pets/{petId}", "showPetById", null],
    ]);
    expectValidSchemas(parsed);
    const show = parsed.operations[2]!.tool!;
    expect(show.inputSchema).toEqual({ type: "object", properties: { petId: { type: "string", description: "The id of the pet to retrieve" } }, required: ["petId"] });
    expect(show.endpoint).toMatchObject({ url: "/pets/{petId}", method: "GET", params: { petId: { in: "path" } } });
    expect(show.annotations).toEqual({ title: "Info for a specific pet", readOnlyHint: true });
    expect(show.outputSchema).toMatchObject({ type: "object", required: ["id", "name"] });
    const create = parsed.operations[1]!.tool!;
    expect(create.inputSchema.required).toEqual(["body"]);
    expect(create.endpoint.params).toEqual({ body: { in: "body" } });
    expect(create.annotations).toMatchObject({ readOnlyHint: false });
    // An array answer cannot be an MCP outputSchema (it must be an object schema).
    expect(parsed.operations[0]!.tool!.outputSchema).toBeUndefined();
  });

  it("Petstore 3.1 gives the same tools as 3.0", async () => {
    const a = await parseOpenApiDocument(fixture("petstore-3.0.yaml"));
    const b = await parseOpenApiDocument(fixture("petstore-3.1.yaml"));
    expect(b.specVersion).toBe("3.1.0");
    expect(b.operations.map((o) => o.tool)).toEqual(a.operations.map((o) => o.tool));
  });

  it("Swagger 2.0 (petstore-expanded) is upgraded: servers from host/basePath, DELETE destructive", async () => {
    const parsed = await parseOpenApiDocument(fixture("petstore-expanded-swagger-2.0.json"));
    expect(parsed.specVersion).toBe("2.0");
    expect(parsed.servers[0]).toBe("http://petstore.swagger.io/api");
    expect(parsed.operations.map((o) => o.toolName)).toEqual(["findPets", "addPet", "find_pet_by_id", "deletePet"]);
    expectValidSchemas(parsed);
    const find = parsed.operations[0]!.tool!;
    expect(find.endpoint.params).toMatchObject({ tags: { in: "query" }, limit: { in: "query" } });
    expect(find.inputSchema.properties).toMatchObject({ tags: { type: "array", items: { type: "string" } } });
    expect(parsed.operations[3]!.tool!.annotations).toMatchObject({ destructiveHint: true, readOnlyHint: false });
  });

  // Its import time is measured by bench/micro/openapi-import-cost.mjs (no timed tests here).
  it("GitHub's REST description (trimmed, real): hundreds of tools, valid schemas, stable names", async () => {
    const text = fixture("github-api-trimmed.json");
    const parsed = await parseOpenApiDocument(text);
    expect(parsed.operations.length).toBe(724);
    const imported = parsed.operations.filter((o) => o.tool);
    expect(imported.length).toBeGreaterThan(650);
    for (const op of parsed.operations.filter((o) => o.refused)) expect(op.refused, op.key).toMatch(/\w/);
    expectValidSchemas(parsed);
    const names = parsed.operations.map((o) => o.toolName);
    expect(new Set(names).size).toBe(names.length);
    for (const name of names) expect(name).toMatch(/^[A-Za-z0-9_.-]{1,128}$/);
    const again = await parseOpenApiDocument(text);
    expect(again.operations.map((o) => o.toolName)).toEqual(names);
  }, 180_000);
});

describe("OpenAPI import: bad documents are refused whole, with a message", () => {
  const refuse = (text: string) => parseOpenApiDocument(text).then(() => "accepted", (e: Error) => e.message);

  it("names the problem", async () => {
    expect(await refuse("just some text")).toMatch(/^This is not an OpenAPI document/);
    expect(await refuse('{"hello": "world"}')).toMatch(/^This is not an OpenAPI document: it has no "openapi" version field/);
    expect(await refuse("{not json")).toMatch(/^The document is not valid JSON/);
    expect(await refuse("a: [1, 2\nb: c")).toMatch(/^The document is neither valid JSON nor valid YAML/);
    expect(await refuse('{"openapi":"3.2.0","info":{"title":"x","version":"1"},"paths":{}}')).toMatch(/^OpenAPI 3.2.0 is not supported/);
    expect(await refuse('{"openapi":"3.0.0","paths":{}}')).toMatch(/^The document is not valid OpenAPI 3.0.0: /);
    const external = { openapi: "3.0.0", info: { title: "x", version: "1" }, paths: { "/a": { get: { responses: { 200: { $ref: "other.yaml#/r" } } } } } };
    expect(await refuse(JSON.stringify(external))).toMatch(/refers to another file \(other.yaml#\/r\)/);
    const dangling = { openapi: "3.0.0", info: { title: "x", version: "1" }, paths: { "/a": { get: { responses: { 200: { description: "ok", content: { "application/json": { schema: { $ref: "#/components/schemas/Nope" } } } } } } } } };
    expect(await refuse(JSON.stringify(dangling))).toMatch(/\$ref|not valid/);
  });

  it("caps size and operations, and says so", async () => {
    expect(await refuse(`{"openapi":"3.0.0","x":"${"a".repeat(OPENAPI_LIMITS.documentBytes)}"}`)).toMatch(/larger than 16 MiB/);
    const paths: Record<string, unknown> = {};
    for (let i = 0; i <= OPENAPI_LIMITS.operations; i++) paths[`/p${i}`] = { get: { responses: { 200: { description: "ok" } } } };
    expect(await refuse(JSON.stringify({ openapi: "3.0.0", info: { title: "x", version: "1" }, paths }))).toBe(
      `The document has ${OPENAPI_LIMITS.operations + 1} operations; at most ${OPENAPI_LIMITS.operations} can be imported from one document.`,
    );
  });

  it("a YAML alias bomb is refused, not expanded", async () => {
    const bomb = ["openapi: 3.0.0", 'a: &a ["x","x","x","x","x","x","x","x","x"]', ...Array.from({ length: 8 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(9).fill(`*${String.fromCharCode(97 + i)}`).join(",")}]`)].join("\n");
    expect(await refuse(bomb)).toMatch(/neither valid JSON nor valid YAML|not valid OpenAPI/);
  });
});

describe("OpenAPI import: operations that cannot become tools are refused by name; the rest import", () => {
  const doc = {
    openapi: "3.0.3",
    info: { title: "Mixed", version: "1" },
    servers: [{ url: "https://api.example.test/{version}", variables: { version: { default: "v2" } } }],
    components: {
      securitySchemes: { session: { type: "apiKey", in: "cookie", name: "sid" }, key: { type: "apiKey", in: "header", name: "X-Key" } },
      schemas: {
        Node: { type: "object", properties: { name: { type: "string" }, children: { type: "array", items: { $ref: "#/components/schemas/Node" } } } },
      },
    },
    paths: {
      "/upload": { post: { operationId: "upload", requestBody: { content: { "multipart/form-data": { schema: { type: "object" } } } }, responses: { 200: { description: "ok" } } } },
      "/me": { get: { operationId: "me", security: [{ session: [] }], responses: { 200: { description: "ok" } } } },
      "/either": { get: { operationId: "either", security: [{ session: [] }, { key: [] }], responses: { 200: { description: "ok" } } } },
      "/tree": { post: { operationId: "put tree!", requestBody: { required: true, content: { "application/json": { schema: { $ref: "#/components/schemas/Node" } } } }, responses: { 200: { description: "ok" } } } },
      "/deep": { get: { parameters: [{ name: "filter", in: "query", style: "deepObject", schema: { type: "object" } }], responses: { 200: { description: "ok" } } } },
      "/x/{id}": { options: { responses: { 200: { description: "ok" } } }, delete: { parameters: [{ name: "id", in: "path", required: true, schema: { type: "string" } }], responses: { 204: { description: "gone" } } } },
    },
  };

  it("multipart, cookie-only auth, deepObject and OPTIONS are refused with reasons; recursion is cut", async () => {
    const parsed = await parseOpenApiDocument(JSON.stringify(doc));
    expect(parsed.servers).toEqual(["https://api.example.test/v2"]);
    const byKey = Object.fromEntries(parsed.operations.map((o) => [o.key, o]));
    expect(byKey["POST /upload"]!.refused).toBe("it takes a multipart upload (multipart/form-data), which a tool cannot send");
    expect(byKey["GET /me"]!.refused).toBe("it only accepts cookie authentication, which Toolgate does not send");
    expect(byKey["GET /either"]!.refused).toBeNull();
    expect(byKey["GET /deep"]!.refused).toBe("its query parameter filter uses style deepObject; only form is supported");
    expect(byKey["OPTIONS /x/{id}"]!.refused).toBe("the method OPTIONS is not supported");
    expect(byKey["DELETE /x/{id}"]!.toolName).toBe("delete_x_id");
    const tree = byKey["POST /tree"]!;
    expect(tree.toolName).toBe("put_tree");
    type Node = { type: string; properties: { children: { items: Node } } };
    const body = (tree.tool!.inputSchema.properties as Record<string, Node>).body!;
    // The dereferenced graph repeats Node inside itself; the repeat is cut one level down.
    expect(body.properties.children.items.type).toBe("object");
    expect(body.properties.children.items.properties.children).toEqual({ description: "(recursive: not expanded further; any value is accepted here)" });
    expectValidSchemas(parsed);
  });
});

describe("OpenAPI import: composed answers still give an output schema", () => {
  const base = { type: "object", required: ["id"], properties: { id: { type: "string" } } };
  const answer = (schema: unknown) => ({ 200: { description: "ok", content: { "application/json": { schema } } } });
  const doc = {
    openapi: "3.0.3",
    info: { title: "Composed", version: "1" },
    components: { schemas: { Base: base, Order: { allOf: [{ $ref: "#/components/schemas/Base" }, { properties: { status: { type: "string" } } }] } } },
    paths: {
      "/all-of": { get: { operationId: "allOf", responses: answer({ $ref: "#/components/schemas/Order" }) } },
      "/one-of": { get: { operationId: "oneOf", responses: answer({ oneOf: [base, { type: "object", properties: { code: { type: "integer" } } }] }) } },
      "/mixed": { get: { operationId: "mixed", responses: answer({ anyOf: [base, { type: "string" }] }) } },
      "/untyped": { get: { operationId: "untyped", responses: answer({ properties: { id: { type: "string" } } }) } },
    },
  };

  it("allOf with an object part, or only object alternatives, is an object schema; anything that may not be an object is not", async () => {
    const parsed = await parseOpenApiDocument(JSON.stringify(doc));
    const output = Object.fromEntries(parsed.operations.map((o) => [o.toolName, o.tool!.outputSchema]));
    expect(output.allOf).toMatchObject({ type: "object", allOf: [base, { properties: { status: { type: "string" } } }] });
    expect(output.oneOf).toMatchObject({ type: "object", oneOf: [base, { type: "object" }] });
    // A string answer (or, without a type, any value) would not be structured content.
    expect(output.mixed).toBeUndefined();
    expect(output.untyped).toBeUndefined();
    expectValidSchemas(parsed);
    const validate = new Ajv2020({ strict: false, validateFormats: false }).compile(output.allOf!);
    expect(validate({ id: "o1", status: "open" })).toBe(true);
    expect(validate({ status: "open" })).toBe(false);
    expect(validate(["o1"])).toBe(false);
  });
});

describe("OpenAPI import: a path placeholder no parameter describes", () => {
  it("becomes a required string argument mapped to the path, beside the described ones", async () => {
    const parsed = await parseOpenApiDocument(
      JSON.stringify({
        swagger: "2.0",
        info: { title: "Sloppy", version: "1" },
        host: "api.example.test",
        paths: {
          "/shops/{shopId}/things/{thingId}": {
            get: { operationId: "getThing", parameters: [{ name: "shopId", in: "path", required: true, type: "integer" }], responses: { 200: { description: "ok" } } },
          },
        },
      }),
    );
    const tool = parsed.operations[0]!.tool!;
    expect(tool.inputSchema).toMatchObject({
      properties: { shopId: { type: "integer" }, thingId: { type: "string", description: expect.stringContaining("{thingId}") } },
      required: ["shopId", "thingId"],
    });
    expect(tool.endpoint.params).toEqual({ shopId: { in: "path" }, thingId: { in: "path" } });
    expectValidSchemas(parsed);
  });
});

describe("OpenAPI import: a document by URL, fetched like a tool endpoint", () => {
  let server: http.Server;
  let base: string;
  beforeEach(async () => {
    server = http.createServer((req, res) => {
      if (req.url === "/openapi.yaml") res.writeHead(200, { "Content-Type": "application/yaml" }).end(fixture("petstore-3.0.yaml").replace("http://petstore.swagger.io/v1", "/api/v1"));
      else if (req.url === "/moved") res.writeHead(302, { Location: "/openapi.yaml" }).end();
      else if (req.url === "/huge") {
        res.writeHead(200, { "Content-Type": "application/json" });
        const chunk = Buffer.alloc(1024 * 1024, 0x20);
        let sent = 0;
        const pump = () => {
          while (sent <= OPENAPI_LIMITS.documentBytes / chunk.length && res.write(chunk)) sent++;
          if (sent <= OPENAPI_LIMITS.documentBytes / chunk.length) res.once("drain", pump);
          else res.end();
        };
        pump();
      } else res.writeHead(404).end("no");
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterEach(async () => {
    closeUpstreamPools();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it("an internal address is fetched; relative server URLs resolve against the document's URL", async () => {
    const text = await fetchOpenApiDocument(`${base}/openapi.yaml`);
    const parsed = await parseOpenApiDocument(text, { sourceUrl: `${base}/openapi.yaml` });
    expect(parsed.servers).toEqual([`${base}/api/v1`]);
    expect(parsed.operations).toHaveLength(3);
  });

  it("redirects are not followed, errors and oversized answers are refused with a message", async () => {
    const refuse = (url: string) => fetchOpenApiDocument(url).then(() => "accepted", (e: Error) => e.message);
    expect(await refuse(`${base}/moved`)).toBe("The document URL answered HTTP 302 (redirects are not followed).");
    expect(await refuse(`${base}/nope`)).toBe("The document URL answered HTTP 404.");
    expect(await refuse(`${base}/huge`)).toBe("The document is larger than 16 MiB, the most Toolgate imports.");
    expect(await refuse("ftp://example.test/x")).toBe("The document URL must start with http:// or https://.");
    expect(await refuse("http://127.0.0.1:9/closed")).toMatch(/^Could not fetch the document/);
  });
});

