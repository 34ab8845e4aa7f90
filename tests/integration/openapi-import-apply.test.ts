/**
 * An OpenAPI import applied to a server, on both stores: the plan against the server's tools, one
 * transaction for the whole apply (a failure midway leaves nothing), and tool ids kept by name on
 * re-import. The parsing itself (no database) is tested in openapi-import.test.ts.
 */
import fs from "node:fs";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createUser } from "~/auth/users.server";
import { applyImport, parseOpenApiDocument, planImport } from "~/servers/openapi-import.server";
import { createServer, listTools } from "~/servers/servers.server";
import { createTestContext, type TestContext } from "../helpers/context";
import { onPostgres } from "../helpers/postgres-store";

const FIXTURES = path.resolve(import.meta.dirname, "../fixtures/openapi");
const fixture = (name: string) => fs.readFileSync(path.join(FIXTURES, name), "utf8");

describe("OpenAPI import into a server: plan, apply, re-import", () => {
  let ctx: TestContext;
  let ownerId: string;
  beforeEach(async () => {
    ctx = createTestContext();
    ownerId = (await createUser(ctx, { email: `o-${Math.random()}@example.test` })).id;
  });
  afterEach(() => ctx.cleanup());

  it("re-import shows added, changed and removed, applies them in one transaction, and keeps tool ids", async () => {
    const { server } = await createServer(ctx, { ownerId, name: "Pets" });
    const v1 = await parseOpenApiDocument(fixture("petstore-3.0.yaml"));
    const first = await planImport(ctx, server.id, v1);
    expect(first.baseUrl).toBe("http://petstore.swagger.io/v1");
    expect(first.added.map((t) => t.tool.name)).toEqual(["listPets", "createPets", "showPetById"]);
    await applyImport(ctx, server.id, first);
    const ids = Object.fromEntries((await listTools(ctx, ownerId, server.id))!.map((t) => [t.name, t.id]));
    expect(await planImport(ctx, server.id, v1)).toMatchObject({ added: [], changed: [], removed: [] });

    const changedText = fixture("petstore-3.0.yaml")
      .replace("summary: Info for a specific pet", "summary: One pet by id")
      .replace(/    post:\n      summary: Create a pet[\s\S]*?(?=  \/pets\/\{petId\}:)/, "")
      .replace("paths:\n", "paths:\n  /owners:\n    get:\n      operationId: listOwners\n      responses:\n        '200':\n          description: ok\n");
    const v2 = await parseOpenApiDocument(changedText);
    const second = await planImport(ctx, server.id, v2);
    expect(second.added.map((t) => t.tool.name)).toEqual(["listOwners"]);
    expect(second.changed.map((t) => t.tool.name)).toEqual(["showPetById"]);
    expect(second.unchanged.map((t) => t.tool.name)).toEqual(["listPets"]);
    expect(second.removed.map((t) => t.name)).toEqual(["createPets"]);
    expect(await applyImport(ctx, server.id, second)).toMatchObject({ added: 1, changed: 1, removed: 1 });
    const after = Object.fromEntries((await listTools(ctx, ownerId, server.id))!.map((t) => [t.name, t]));
    expect(Object.keys(after).sort()).toEqual(["listOwners", "listPets", "showPetById"]);
    expect(after.showPetById!.id).toBe(ids.showPetById);
    expect(after.showPetById!.description).toBe("One pet by id");
  });

  it("--include picks operations; an unknown name is an error; a failing apply leaves nothing", async () => {
    const { server } = await createServer(ctx, { ownerId, name: "Pets" });
    const parsed = await parseOpenApiDocument(fixture("petstore-3.0.yaml"));
    const plan = await planImport(ctx, server.id, parsed, { include: ["showPetById", "GET /pets"], baseUrl: "http://127.0.0.1:9/v1/" });
    expect(plan.added.map((t) => t.tool.name)).toEqual(["listPets", "showPetById"]);
    expect(plan.baseUrl).toBe("http://127.0.0.1:9/v1");
    await expect(planImport(ctx, server.id, parsed, { include: ["nope"] })).rejects.toThrow("The document has no operation named nope.");
    // A row the database refuses midway (a trigger standing in for a crash) rolls everything back.
    if (onPostgres) {
      await ctx.queryRows(`create function fail_second() returns trigger language plpgsql as $$
        begin if new.name = 'showPetById' then raise exception 'boom'; end if; return new; end $$`);
      await ctx.queryRows("create trigger fail_second after insert on tools for each row execute function fail_second()");
    } else {
      await ctx.queryRows("create trigger fail_second after insert on tools when new.name = 'showPetById' begin select raise(abort, 'boom'); end");
    }
    await expect(applyImport(ctx, server.id, plan)).rejects.toThrow("boom");
    expect(await listTools(ctx, ownerId, server.id)).toEqual([]);
    expect(await ctx.queryRows("select base_url from mcp_servers where id = ?", server.id)).toEqual([{ base_url: null }]);
  });
});
