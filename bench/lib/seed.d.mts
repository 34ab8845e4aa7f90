// Types for seed.mjs (used by tests/integration/bench-seed.test.ts).
export type SeedOptions = {
  scale: number;
  accessPool?: number;
  refreshPool?: number;
  authRequests?: number;
  publicUrl: string;
  toolEndpointUrl: string;
  sessionTtlSeconds?: number;
};
export type SeedFixture = {
  publicUrl: string;
  users: { id: string; email: string }[];
  servers: { id: string; ownerId: string; tools: { id: string; name: string }[]; mcpUrl: string }[];
  clients: { id: string; redirectUri: string }[];
  grants: { id: string; userId: string; clientId: string; serverId: string }[];
  accessTokens: { token: string; serverId: string }[];
  refreshTokens: { token: string; clientId: string; serverId: string }[];
  authRequestIds: string[];
  sessionCookie: string;
  counts: Record<string, number>;
  secrets: { sessionSecret: string; dataKey: Buffer };
  seedSeconds: number;
  dbBytes: number;
};
export const DATABASE_FILE: string;
export function encryptText(key: Buffer, plaintext: string): string;
export function writeSecrets(dataDir: string): { sessionSecret: string; dataKey: Buffer };
export function seed(dataDir: string, options: SeedOptions): Promise<SeedFixture>;
