import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../helpers/built-app";

// These tests run the real CLI (bin/toolgate.js loads build/index.js): `npm run build` first, which
// the README's test command does.
const ROOT = path.resolve(import.meta.dirname, "../..");
const PASSWORD = "correct horse battery staple";

let dataDir: string;
let env: NodeJS.ProcessEnv;

function toolgate(args: string[], stdin = "") {
  return runCli(args, env, stdin);
}

async function json(args: string[], stdin = "") {
  const res = await toolgate([...args, "--json"], stdin);
  expect(res.code, res.stderr).toBe(0);
  return JSON.parse(res.stdout);
}

function writeFile(name: string, value: unknown): string {
  const file = path.join(dataDir, name);
  fs.writeFileSync(file, typeof value === "string" ? value : JSON.stringify(value));
  return file;
}

const tool = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  description: `The ${name} tool`,
  inputSchema: { type: "object", properties: { q: { type: "string" } } },
  endpoint: { url: `https://tools.example.test/${name}` },
  ...extra,
});

// Each invocation starts Node and opens the database (about a second on a busy 2-core machine).
describe("toolgate CLI", { timeout: 120_000 }, () => {
  beforeAll(async () => {
    if (!fs.existsSync(path.join(ROOT, "build/index.js"))) throw new Error("Run `npm run build` before the CLI tests");
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "toolgate-cli-"));
    env = { ...process.env, TOOLGATE_DATA_DIR: dataDir, PUBLIC_URL: "https://toolgate.example.test", TOOLGATE_LOG_LEVEL: "silent" };
    await json(["user", "add", "--email", "owner@example.test", "--owner", "--password-stdin"], PASSWORD + "\n");
    await json(["user", "add", "--email", "member@example.test", "--password-stdin"], PASSWORD + "\n");
  });
  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it("lists every command in --help", async () => {
    const res = await toolgate(["--help"]);
    expect(res.code).toBe(0);
    for (const cmd of ["user add", "user list", "user remove", "user reset-password", "server create", "server list", "tool add"]) {
      expect(res.stdout).toContain(cmd);
    }
  });

  it("lists users", async () => {
    const users = await json(["user", "list"]);
    expect(users.map((u: { email: string; role: string }) => [u.email, u.role])).toEqual([
      ["member@example.test", "member"],
      ["owner@example.test", "owner"],
    ]);
  });

  it("creates a server with tools from a file and lists it", async () => {
    const file = writeFile("tools.json", [tool("search"), tool("fetch_page", { endpoint: { url: "https://tools.example.test/f", method: "PUT", headers: { "X-Api-Key": "k" } } })]);
    const created = await json(["server", "create", "--owner", "member@example.test", "--name", "Research", "--description", "Web research", "--tools", file]);
    expect(created).toMatchObject({ name: "Research", owner: "member@example.test", tools: 2 });
    expect(created.mcpUrl).toBe(`https://toolgate.example.test/mcp/${created.id}`);
    expect(created.signingSecret).toMatch(/^tgs_/);

    const mine = await json(["server", "list", "--owner", "member@example.test"]);
    expect(mine).toEqual([expect.objectContaining({ id: created.id, name: "Research", tools: 2 })]);
    expect(JSON.stringify(mine)).not.toContain(created.signingSecret);
    const ownersOnly = await json(["server", "list", "--owner", "owner@example.test"]);
    expect(ownersOnly).toEqual([]);
  });

  it("creates nothing when one tool in the file is invalid (one transaction)", async () => {
    const file = writeFile("bad-tools.json", [tool("good_one"), tool("bad name!"), tool("good_two")]);
    const before = await json(["server", "list"]);
    const res = await toolgate(["server", "create", "--owner", "owner@example.test", "--name", "Half", "--tools", file]);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain("tools.1.name: Use only letters, digits, underscore (_), hyphen (-) and dot (.).");
    expect(await json(["server", "list"])).toEqual(before);

    const dup = writeFile("dup-tools.json", [tool("same"), tool("same")]);
    const dupRes = await toolgate(["server", "create", "--owner", "owner@example.test", "--name", "Dup", "--tools", dup]);
    expect(dupRes.code).toBe(1);
    expect(dupRes.stderr).toContain("A tool named same already exists on this server.");

    const notJson = writeFile("not-json.json", "[{");
    const notJsonRes = await toolgate(["server", "create", "--owner", "owner@example.test", "--name", "X", "--tools", notJson]);
    expect(notJsonRes.code).toBe(1);
    expect(notJsonRes.stderr).toContain("is not valid JSON");
    expect(await json(["server", "list"])).toEqual(before);
  });

  it("refuses an unknown owner and a missing name", async () => {
    const res = await toolgate(["server", "create", "--owner", "nobody@example.test", "--name", "X", "--json"]);
    expect(res.code).toBe(1);
    expect(JSON.parse(res.stderr)).toEqual({ error: "No user has the email nobody@example.test" });
    const noName = await toolgate(["server", "create", "--owner", "owner@example.test"]);
    expect(noName.code).toBe(1);
    expect(noName.stderr).toContain("--name is required");
  });

  it("adds tools from a file and from flags, refusing duplicates and bad schemas", async () => {
    const server = await json(["server", "create", "--owner", "owner@example.test", "--name", "Tools"]);
    const fromFile = await json(["tool", "add", "--server", server.id, "--file", writeFile("one-tool.json", tool("lookup"))]);
    expect(fromFile).toMatchObject({ name: "lookup", serverId: server.id, endpoint: { method: "POST" } });

    const fromFlags = await json([
      "tool", "add", "--server", server.id, "--name", "notify", "--url", "https://hooks.example.test/n",
      "--method", "patch", "--input-schema", '{"type":"object","required":["text"]}', "--header", "Authorization: Bearer x",
    ]);
    expect(fromFlags).toMatchObject({ name: "notify", endpoint: { url: "https://hooks.example.test/n", method: "PATCH" } });

    const dup = await toolgate(["tool", "add", "--server", server.id, "--name", "notify", "--url", "https://hooks.example.test/n"]);
    expect(dup.code).toBe(1);
    expect(dup.stderr).toContain("A tool named notify already exists on this server.");

    const badSchema = await toolgate(["tool", "add", "--server", server.id, "--name", "x", "--url", "https://e.test", "--input-schema", '{"type":"array"}']);
    expect(badSchema.code).toBe(1);
    expect(badSchema.stderr).toContain('The input schema must have "type": "object".');

    const unknownServer = await toolgate(["tool", "add", "--server", "no-such-server", "--name", "x", "--url", "https://e.test"]);
    expect(unknownServer.code).toBe(1);
    expect(unknownServer.stderr).toContain("No server has the id no-such-server");

    const listed = await json(["server", "list", "--owner", "owner@example.test"]);
    expect(listed.find((s: { id: string }) => s.id === server.id).tools).toBe(2);
  });

  it("resets a password (read from stdin) and refuses a short one", async () => {
    const ok = await json(["user", "reset-password", "--email", "member@example.test", "--password-stdin"], "a brand new passphrase\n");
    expect(ok.email).toBe("member@example.test");
    const short = await toolgate(["user", "reset-password", "--email", "member@example.test", "--password-stdin"], "short\n");
    expect(short.code).toBe(1);
    expect(short.stderr).toContain("Password must be at least 10 characters");
    const unknown = await toolgate(["user", "reset-password", "--email", "ghost@example.test", "--password-stdin"], "whatever long enough\n");
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("No user has the email ghost@example.test");
  });

  it("removes a user with their servers, but never the only owner", async () => {
    await json(["user", "add", "--email", "leaver@example.test", "--password-stdin"], PASSWORD + "\n");
    await json(["server", "create", "--owner", "leaver@example.test", "--name", "Leaver's"]);
    const removed = await json(["user", "remove", "--email", "leaver@example.test"]);
    expect(removed.email).toBe("leaver@example.test");
    const servers = await json(["server", "list"]);
    expect(servers.some((s: { name: string }) => s.name === "Leaver's")).toBe(false);

    const lastOwner = await toolgate(["user", "remove", "--email", "owner@example.test"]);
    expect(lastOwner.code).toBe(1);
    expect(lastOwner.stderr).toContain("owner@example.test is the only owner and cannot be removed");
  });
});
