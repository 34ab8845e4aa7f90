/**
 * The MCP revisions the endpoint serves (README, "MCP revisions"). 2026-07-28 is the modern era
 * (a per-request `_meta` envelope, `server/discover`, no sessions); the 2025 revisions are the
 * legacy era (`initialize`). Which era a request belongs to is decided per request by the SDK's
 * `classifyInboundRequest`.
 */
export const MODERN_REVISION = "2026-07-28";
export const LEGACY_REVISIONS = ["2025-11-25", "2025-06-18", "2025-03-26"] as const;

export type Era = "modern" | "legacy";
