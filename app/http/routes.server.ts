// Every protocol module registers its routes when imported here (see protocol.server.ts).
import "./protocol.server";
import "./health.server";
import "~/mcp/routes.server";
import "~/oauth/routes.server";
