// Micro-benchmark: CPU cost of the checks the new grants add per request, in this process:
// verifying a DPoP proof (jose signature check, thumbprint, one replay_guard insert), verifying a
// private_key_jwt client assertion, and the replay guard's insert alone. Bounded (a few thousand
// iterations), on a temporary SQLite file. Usage: node bench/micro/proof-cost.mjs
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { importAppModules } from "../lib/app-modules.mjs";

const app = await importAppModules(`
  export { openStore } from "~/db/client.server";
  export { parseConfig } from "~/config.server";
  export { verifyDpopProof } from "~/oauth/dpop.server";
  export { verifyClientAssertion } from "~/oauth/client-assertion.server";
  export { claimOnce } from "~/oauth/replay-guard.server";
`, { name: "proof-cost" });

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "toolgate-proof-"));
const store = app.openStore(path.join(dir, "toolgate.db"));
const config = app.parseConfig({ PUBLIC_URL: "https://toolgate.example", TOOLGATE_DATA_DIR: dir });
const ctx = { store, db: store.db, config, secrets: { sessionSecret: "x", dataKey: randomBytes(32) }, logger: { info() {}, warn() {}, error() {}, debug() {} }, now: Date.now };

const { publicKey, privateKey } = await generateKeyPair("ES256");
const jwk = await exportJWK(publicKey);
const url = "https://toolgate.example/mcp/abc";
const N = 3000;
const proofs = [];
const assertions = [];
for (let i = 0; i < N; i++) {
  const now = Math.floor(Date.now() / 1000);
  proofs.push(await new SignJWT({ htm: "POST", htu: url, iat: now, jti: `jti-${i}-${randomBytes(8).toString("hex")}`, ath: "x" })
    .setProtectedHeader({ alg: "ES256", typ: "dpop+jwt", jwk }).sign(privateKey));
  assertions.push(await new SignJWT({ iss: "c1", sub: "c1", aud: config.publicUrl, exp: now + 120, iat: now, jti: `a-${i}-${randomBytes(8).toString("hex")}` })
    .setProtectedHeader({ alg: "ES256", kid: "k" }).sign(privateKey));
}
const keys = { jwks: { keys: [{ ...jwk, kid: "k" }] } };

async function time(label, fn) {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < N; i++) await fn(i);
  const c = process.cpuUsage(c0);
  console.log(`${label.padEnd(52)} ${((c.user + c.system) / N).toFixed(1).padStart(7)} µs CPU  ${(((performance.now() - t0) * 1000) / N).toFixed(1).padStart(7)} µs wall`);
}
console.log(`node ${process.version}, ${N} iterations each`);
await time("replay guard insert (claimOnce)", (i) => app.claimOnce(ctx, "dpop", "k", `only-${i}`, Date.now() + 60_000));
await time("verifyDpopProof (ES256, without ath)", (i) => app.verifyDpopProof(ctx, { method: "POST", url, proof: proofs[i] }));
await time("verifyClientAssertion (ES256, inline JWKS)", (i) => app.verifyClientAssertion(ctx, "c1", keys, assertions[i]));
await store.close();
fs.rmSync(dir, { recursive: true, force: true });
