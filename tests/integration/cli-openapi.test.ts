import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../helpers/built-app";
import { cliDatabase, type CliDatabase } from "../helpers/cli-database";

// The real CLI (bin/toolgate.js loads build/index.js): `npm run build` first.
const ROOT = path.resolve(import.meta.dirname, "../..");
const FIXTURES = path.join(ROOT, "tests/fixtures/openapi");
const SECRET = "pk_live_cli-SECRET-4242";

let dataDir: string;
let env: NodeJS.ProcessEnv;
let database: CliDatabase;
let serverId: string;

const toolgate = (args: string[], stdin = "") => runCli(args, env, stdin);
async function json(args: string[], stdin = "") {
  const res = await toolgate([...args, "--json"], stdin);
  expect(res.code, res.stderr).toBe(0);
  expect(res.stdout + res.stderr).not.toContain(SECRET);
  return JSON.parse(res.stdout);
}

describe("toolgate server import / server credentials", { timeout: 180_000 }, () => {
  beforeAll(async () => {
    if (!fs.existsSync(path.join(ROOT, "build/index.js"))) throw new Error("Run `npm run build` before the CLI tests");
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "toolgate-cli-openapi-"));
    database = cliDatabase(dataDir);
    env = { ...process.env, TOOLGATE_DATA_DIR: dataDir, PUBLIC_URL: "https://toolgate.example.test", TOOLGATE_LOG_LEVEL: "debug", ...database.env };
    await json(["user", "add", "--email", "owner@example.test", "--owner", "--password-stdin"], "pw-pw-pw-pw-pw\n");
    serverId = (await json(["server", "create", "--owner", "owner@example.test", "--name", "Pets"])).id;
  });
  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it("--dry-run shows the plan and changes nothing; then the import applies it with an API key from stdin", async () => {
    const file = path.join(FIXTURES, "petstore-3.0.yaml");
    const dry = await json(["server", "import", "--server", serverId, "--openapi", file, "--dry-run"]);
    expect(dry).toMatchObject({ applied: false, added: ["listPets", "createPets", "showPetById"], baseUrl: "http://petstore.swagger.io/v1" });
    expect((await json(["server", "list"]))[0].tools).toBe(0);

    const done = await json(
      ["server", "import", "--server", serverId, "--openapi", file, "--base-url", "http://127.0.0.1:9/v1", "--type", "api-key", "--in", "header", "--name", "X-API-Key", "--secret-stdin"],
      SECRET + "\n",
    );
    expect(done).toMatchObject({ applied: true, added: ["listPets", "createPets", "showPetById"], refused: [], credential: "API key in the header X-API-Key" });
    const row = (await database.query<Record<string, string>>("select base_url, api_auth, api_secret_enc from mcp_servers where id = ?", serverId))[0]!;
    expect(row.base_url).toBe("http://127.0.0.1:9/v1");
    expect(JSON.parse(row.api_auth!)).toEqual({ type: "api-key", in: "header", name: "X-API-Key" });
    expect(row.api_secret_enc).toMatch(/^v1\./);
    expect(JSON.stringify(row)).not.toContain(SECRET);

    const again = await json(["server", "import", "--server", serverId, "--openapi", file]);
    expect(again).toMatchObject({ added: [], changed: [], removed: [], unchanged: ["listPets", "createPets", "showPetById"], baseUrl: "http://127.0.0.1:9/v1" });
  });

  it("--include picks operations; text output lists refusals by operation and reason", async () => {
    const { id } = await json(["server", "create", "--owner", "owner@example.test", "--name", "Swagger"]);
    const res = await toolgate(["server", "import", "--server", id, "--openapi", path.join(FIXTURES, "petstore-expanded-swagger-2.0.json"), "--include", "findPets,deletePet"]);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toContain("Added (2): findPets, deletePet");
    const bad = await toolgate(["server", "import", "--server", id, "--openapi", path.join(FIXTURES, "petstore-3.0.yaml"), "--include", "nope"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("The document has no operation named nope.");
  });

  it("bad documents: a clear message, exit 1, nothing imported", async () => {
    const { id } = await json(["server", "create", "--owner", "owner@example.test", "--name", "Empty"]);
    const notApi = path.join(dataDir, "not-openapi.json");
    fs.writeFileSync(notApi, '{"hello":"world"}');
    for (const [file, message] of [
      [notApi, 'This is not an OpenAPI document: it has no "openapi" version field'],
      [path.join(dataDir, "missing.yaml"), "Cannot read"],
    ] as const) {
      const res = await toolgate(["server", "import", "--server", id, "--openapi", file]);
      expect(res.code).toBe(1);
      expect(res.stderr).toContain(message);
    }
    const listed = (await json(["server", "list"])).find((s: { id: string }) => s.id === id);
    expect(listed.tools).toBe(0);
  });

  it("server credentials: bearer and basic from stdin, --clear; the secret is never printed or logged", async () => {
    expect(await json(["server", "credentials", "--server", serverId, "--type", "bearer", "--secret-stdin"], SECRET + "\n")).toEqual({
      serverId,
      baseUrl: "http://127.0.0.1:9/v1",
      credential: "Bearer token (Authorization header)",
    });
    expect((await json(["server", "credentials", "--server", serverId, "--type", "basic", "--username", "ada", "--secret-stdin"], SECRET)).credential).toBe("Basic auth as ada");
    const noStdin = await toolgate(["server", "credentials", "--server", serverId, "--type", "bearer"]);
    expect(noStdin.code).toBe(1);
    expect(noStdin.stderr).toContain("--secret-stdin is required");
    const badIn = await toolgate(["server", "credentials", "--server", serverId, "--type", "api-key", "--in", "cookie", "--name", "k", "--secret-stdin"], SECRET);
    expect(badIn.code).toBe(1);
    expect(badIn.stderr).toContain("--in: Send the API key in a header or in the query.");
    expect((await json(["server", "credentials", "--server", serverId, "--clear"])).credential).toBeNull();
  });

  it("tool add takes a REST mapping and annotations", async () => {
    const added = await json([
      "tool", "add", "--server", serverId, "--name", "get_owner", "--url", "/owners/{ownerId}", "--method", "GET",
      "--input-schema", '{"type":"object","properties":{"ownerId":{"type":"string"}},"required":["ownerId"]}',
      "--params", '{"ownerId":{"in":"path"}}', "--annotations", '{"readOnlyHint":true,"title":"Owner"}',
    ]);
    expect(added).toMatchObject({ name: "get_owner", endpoint: { url: "/owners/{ownerId}", method: "GET" } });
    const bad = await toolgate(["tool", "add", "--server", serverId, "--name", "x", "--url", "/x", "--annotations", '{"readOnlyHint":"yes"}']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("annotations.readOnlyHint: Annotation hints are true or false.");
  });
});
