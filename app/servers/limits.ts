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
  toolsPerServer: 200,
} as const;

export const ENDPOINT_METHODS = ["POST", "PUT", "PATCH", "DELETE"] as const;
