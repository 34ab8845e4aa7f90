import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exportJWK, generateKeyPair } from "jose";
import { runCli } from "../helpers/built-app";
import { cliDatabase } from "../helpers/cli-database";

// The real CLI (bin/toolgate.js loads build/index.js): `npm run build` first.
const ROOT = path.resolve(import.meta.dirname, "../..");

let dataDir: string;
let env: NodeJS.ProcessEnv;

async function json(args: string[], stdin = "") {
  const res = await runCli([...args, "--json"], env, stdin);
  expect(res.code, res.stderr).toBe(0);
  return JSON.parse(res.stdout);
}

describe("toolgate client (machine clients)", { timeout: 120_000 }, () => {
  let serverId: string;
  beforeAll(async () => {
    if (!fs.existsSync(path.join(ROOT, "build/index.js"))) throw new Error("Run `npm run build` before the CLI tests");
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "toolgate-cli-clients-"));
    env = { ...process.env, TOOLGATE_DATA_DIR: dataDir, PUBLIC_URL: "https://toolgate.example.test", TOOLGATE_LOG_LEVEL: "silent", ...cliDatabase(dataDir).env };
    await json(["user", "add", "--email", "owner@example.test", "--owner", "--password-stdin"], "correct horse battery staple\n");
    const tools = path.join(dataDir, "tools.json");
    fs.writeFileSync(
      tools,
      JSON.stringify(["search", "delete"].map((name) => ({ name, description: name, inputSchema: { type: "object" }, endpoint: { url: `https://tools.example.test/${name}` } }))),
    );
    serverId = (await json(["server", "create", "--owner", "owner@example.test", "--name", "Research", "--tools", tools])).id;
  });
  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it("creates a secret client with chosen tools, rotates its secret, lists and revokes it", async () => {
    const created = await json(["client", "create", "--server", serverId, "--name", "Nightly", "--tools", "search"]);
    expect(created).toMatchObject({ name: "Nightly", authMethod: "client_secret_basic", tools: ["search"], resource: `https://toolgate.example.test/mcp/${serverId}` });
    expect(created.clientSecret).toMatch(/^tgs_/);
    const rotated = await json(["client", "rotate-secret", "--client", created.clientId]);
    expect(rotated.clientSecret).not.toBe(created.clientSecret);
    expect(await json(["client", "list", "--server", serverId])).toEqual([expect.objectContaining({ clientId: created.clientId, authMethod: "client_secret_basic" })]);
    expect(await json(["client", "revoke", "--client", created.clientId])).toEqual({ clientId: created.clientId, revoked: true });
    expect(await json(["client", "list", "--server", serverId])).toEqual([]);
    const again = await runCli(["client", "revoke", "--client", created.clientId], env);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain("already revoked");
  });

  it("creates a private_key_jwt client from a JWKS file or URL, and refuses bad input clearly", async () => {
    const { publicKey } = await generateKeyPair("ES256");
    const jwksFile = path.join(dataDir, "jwks.json");
    fs.writeFileSync(jwksFile, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: "1" }] }));
    const withFile = await json(["client", "create", "--server", serverId, "--name", "Signer", "--jwks", jwksFile]);
    expect(withFile).toMatchObject({ authMethod: "private_key_jwt", tools: ["delete", "search"] });
    expect(withFile.clientSecret).toBeUndefined();
    const withUri = await json(["client", "create", "--server", serverId, "--name", "Remote keys", "--jwks-uri", "https://keys.example.test/jwks.json"]);
    expect(withUri.authMethod).toBe("private_key_jwt");

    const unknownTool = await runCli(["client", "create", "--server", serverId, "--name", "x", "--tools", "nope"], env);
    expect(unknownTool.code).not.toBe(0);
    expect(unknownTool.stderr).toContain("no tool named nope");
    const httpUri = await runCli(["client", "create", "--server", serverId, "--name", "x", "--jwks-uri", "http://keys.example.test/jwks"], env);
    expect(httpUri.stderr).toContain("JWKS URL: not https");
    const noServer = await runCli(["client", "create", "--server", "nope", "--name", "x"], env);
    expect(noServer.stderr).toContain("No server has the id nope");
    const rotateSigner = await runCli(["client", "rotate-secret", "--client", withFile.clientId], env);
    expect(rotateSigner.stderr).toContain("it has no secret");
  });
});
