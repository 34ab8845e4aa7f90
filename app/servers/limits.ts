/** Size limits of servers and tools, shared by the validation schemas and the forms' maxLength. */
export const LIMITS = {
  serverName: 100,
  serverDescription: 1000,
  toolName: 128,
  toolDescription: 4000,
  inputSchemaBytes: 64 * 1024,
  url: 2048,
  headers: 20,
  headerName: 100,
  headerValue: 4096,
  // An imported API description may hold several hundred operations (GitHub's: over a thousand).
  toolsPerServer: 1000,
  outputSchemaBytes: 256 * 1024,
  params: 100,
  annotationTitle: 200,
} as const;

export const ENDPOINT_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"] as const;

/** Where an argument goes in the HTTP request (decision 043). */
export const PARAM_LOCATIONS = ["path", "query", "header", "body"] as const;

/** The MCP tool annotations a tool may carry (MCP 2025-11-25, Tools, "Tool annotations"). */
export const ANNOTATION_HINTS = ["readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint"] as const;
