import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { freePort, runCli } from "../helpers/built-app";
import { cliDatabase } from "../helpers/cli-database";

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
    env = { ...process.env, TOOLGATE_DATA_DIR: dataDir, PUBLIC_URL: "https://toolgate.example.test", TOOLGATE_LOG_LEVEL: "silent", ...cliDatabase(dataDir).env };
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
    expect(noName.code).toBe(2);
    expect(noName.stderr).toContain("--name is required");
    expect(noName.stderr).toContain("Usage: toolgate server create");
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

  it("invites emails, lists and withdraws invitations, and refuses an email that has an account", async () => {
    expect(await json(["user", "invite", "--email", "  New.Person@Example.test "])).toEqual({ email: "new.person@example.test" });
    expect(await json(["user", "invite", "--email", "an.early@example.test"])).toEqual({ email: "an.early@example.test" });
    // Inviting twice is harmless.
    expect((await toolgate(["user", "invite", "--email", "an.early@example.test"])).code).toBe(0);
    const listed = await json(["user", "invitations"]);
    expect(listed.map((i: { email: string }) => i.email)).toEqual(["an.early@example.test", "new.person@example.test"]);
    expect(listed.every((i: { createdAt: unknown }) => typeof i.createdAt === "number")).toBe(true);

    const member = await toolgate(["user", "invite", "--email", "member@example.test"]);
    expect(member.code).toBe(1);
    expect(member.stderr).toBe("Error: member@example.test already has an account\n");
    for (const asJson of [false, true]) {
      const bad = await toolgate(["user", "invite", "--email", "not-an-address", ...(asJson ? ["--json"] : [])]);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toBe(asJson ? `${JSON.stringify({ error: "Enter a valid email address" })}\n` : "Error: Enter a valid email address\n");
    }

    expect(await json(["user", "uninvite", "--email", "NEW.PERSON@example.test"])).toEqual({ removed: true });
    const again = await toolgate(["user", "uninvite", "--email", "new.person@example.test"]);
    expect(again.code).toBe(1);
    expect(again.stdout).toBe("No such invitation\n");
    expect((await toolgate(["user", "invitations"])).stdout).toBe("an.early@example.test\n");
  });
});

// What a newcomer following the README meets: exit codes 0/1/2 as documented, sentences rather than
// schema dumps, and the MCP URL that clients are really given.
describe("toolgate CLI tells the truth", { timeout: 120_000 }, () => {
  let dir: string;
  let base: NodeJS.ProcessEnv;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "toolgate-cli-truth-"));
    // No PUBLIC_URL: the shell of someone who set it only for the server's unit.
    base = { ...process.env, TOOLGATE_DATA_DIR: dir, TOOLGATE_LOG_LEVEL: "info" };
    delete base.PUBLIC_URL;
    delete base.PORT;
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("user add refuses to create an account without a password unless --no-password is given", async () => {
    const res = await runCli(["user", "add", "--email", "nopass@example.test", "--owner"], base);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain("--password-stdin");
    expect(res.stderr).toContain("--no-password");
    const both = await runCli(["user", "add", "--email", "nopass@example.test", "--password-stdin", "--no-password"], base, PASSWORD);
    expect(both.code).toBe(2);
    const empty = await runCli(["user", "add", "--email", "nopass@example.test", "--password-stdin"], base, "\n");
    expect(empty.code).toBe(1);
    expect(empty.stderr).toContain("the password read from standard input is empty");
    const listed = JSON.parse((await runCli(["user", "list", "--json"], base)).stdout);
    expect(listed).toEqual([]);
    const sso = await runCli(["user", "add", "--email", "sso@example.test", "--no-password", "--json"], base);
    expect(sso.code, sso.stderr).toBe(0);
    expect(JSON.parse(sso.stdout)).toMatchObject({ email: "sso@example.test" });
  });

  it("a missing required option is a usage error (exit 2), also under --json", async () => {
    const res = await runCli(["user", "add", "--password-stdin", "--json"], base, PASSWORD);
    expect(res.code).toBe(2);
    expect(JSON.parse(res.stderr.trim().split("\n").pop()!)).toEqual({ error: "--email is required" });
    const unknownOption = await runCli(["server", "list", "--colour"], base);
    expect(unknownOption.code).toBe(2);
  });

  it("validation errors read as sentences, never the schema library's JSON", async () => {
    for (const json of [false, true]) {
      const res = await runCli(["user", "add", "--email", "short@example.test", "--password-stdin", ...(json ? ["--json"] : [])], base, "short\n");
      expect(res.code).toBe(1);
      const line = res.stderr.trim().split("\n").pop()!;
      const message = json ? (JSON.parse(line) as { error: string }).error : line;
      expect(message).toContain("Password must be at least 10 characters");
      expect(message).not.toMatch(/"code"|"path"|too_small|\[\s*\{/);
      const badEmail = await runCli(["user", "add", "--email", "not-an-email", "--password-stdin", ...(json ? ["--json"] : [])], base, PASSWORD);
      expect(badEmail.code).toBe(1);
      expect(badEmail.stderr).toContain("Enter a valid email address");
      expect(badEmail.stderr).not.toContain('"validation"');
    }
  });

  it("log lines go to standard error; standard output holds only the command's output", async () => {
    await runCli(["user", "add", "--email", "logs@example.test", "--password-stdin", "--json"], base, PASSWORD);
    const res = await runCli(["server", "create", "--owner", "logs@example.test", "--name", "Logs", "--json"], base);
    expect(res.code, res.stderr).toBe(0);
    expect(() => JSON.parse(res.stdout)).not.toThrow();
    expect(res.stdout.trim().split("\n")).toHaveLength(1);
    expect(res.stderr).toContain('"msg":"server created"');
  });

  it("serve on a port that is taken, or on an address the machine lacks, says which setting to change", async () => {
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, "127.0.0.1", resolve));
    const port = (holder.address() as net.AddressInfo).port;
    try {
      const taken = await runCli(["serve"], { ...base, PORT: String(port), HOST: "127.0.0.1" });
      expect(taken.code).toBe(1);
      expect(taken.stderr).toContain(`Cannot listen on 127.0.0.1:${port}: the port is already in use`);
      expect(taken.stderr).toContain("Set PORT to a free port");
      expect(taken.stderr).not.toMatch(/\n\s+at /);
    } finally {
      await new Promise((r) => holder.close(r));
    }
    // 192.0.2.0/24 is TEST-NET-1 (RFC 5737): never an address of this machine.
    const absent = await runCli(["serve"], { ...base, PORT: "0", HOST: "192.0.2.1" });
    expect(absent.code).toBe(1);
    expect(absent.stderr).toContain("Cannot listen on 192.0.2.1:0: this machine has no such address. Set HOST");
  });

  it("prints the MCP URL the running server gives clients, and warns when this shell says otherwise", async () => {
    await runCli(["user", "add", "--email", "url@example.test", "--password-stdin", "--json"], base, PASSWORD);
    const port = await freePort();
    const served = { ...base, PORT: String(port), PUBLIC_URL: "https://tools.example.test" };
    const server = spawn(process.execPath, [path.join(ROOT, "bin/toolgate.js"), "serve"], { env: served, stdio: "ignore" });
    try {
      for (let i = 0; ; i++) {
        if (fs.existsSync(path.join(dir, "serving.json"))) break;
        if (i > 400 || server.exitCode !== null) throw new Error("the server did not start");
        await new Promise((r) => setTimeout(r, 50));
      }
      // Without PUBLIC_URL in this shell: the server's URL, no warning.
      const created = await runCli(["server", "create", "--owner", "url@example.test", "--name", "Weather", "--json"], base);
      expect(created.code, created.stderr).toBe(0);
      const { id, mcpUrl } = JSON.parse(created.stdout) as { id: string; mcpUrl: string };
      expect(mcpUrl).toBe(`https://tools.example.test/mcp/${id}`);
      expect(created.stderr).not.toContain("warning");
      // The same URL the server itself announces in its metadata.
      const metadata = await fetch(`http://127.0.0.1:${port}/.well-known/oauth-protected-resource/mcp/${id}`);
      expect(((await metadata.json()) as { resource: string }).resource).toBe(mcpUrl);

      const text = await runCli(["server", "list"], base);
      expect(text.stdout).toContain(`https://tools.example.test/mcp/${id}`);
      expect(text.stdout).not.toContain("localhost");

      // A shell whose PUBLIC_URL disagrees: still the URL clients get, with a warning that says why.
      const disagreeing = await runCli(["server", "list", "--json"], { ...base, PUBLIC_URL: "http://localhost:3000" });
      expect(disagreeing.code).toBe(0);
      expect(JSON.parse(disagreeing.stdout).find((s: { id: string }) => s.id === id).mcpUrl).toBe(`https://tools.example.test/mcp/${id}`);
      expect(disagreeing.stderr).toContain("warning: PUBLIC_URL here is http://localhost:3000");
      expect(disagreeing.stderr).toContain("PUBLIC_URL=https://tools.example.test");
    } finally {
      server.kill("SIGTERM");
      await new Promise((r) => server.once("exit", r));
    }
  });
});
