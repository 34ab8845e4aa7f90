-- mcp_servers.tools_version changes whenever what tools/list can answer for the server changes:
-- a tool added, edited or removed, or a grant's tool list for the server rewritten (consent).
-- Triggers keep it true for every writer (each replica, the CLI, a restore), so the MCP endpoint
-- can cache tools/list answers keyed by it. The same rule as drizzle/0002_tools_version_triggers.sql.
CREATE FUNCTION "tools_version_on_tool_change"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    UPDATE "mcp_servers" SET "tools_version" = "tools_version" + 1 WHERE "id" = NEW."server_id";
  ELSIF TG_OP = 'UPDATE' THEN
    UPDATE "mcp_servers" SET "tools_version" = "tools_version" + 1 WHERE "id" IN (OLD."server_id", NEW."server_id");
  ELSE
    UPDATE "mcp_servers" SET "tools_version" = "tools_version" + 1 WHERE "id" = OLD."server_id";
  END IF;
  RETURN NULL;
END;
$$;
--> statement-breakpoint
CREATE TRIGGER "tools_version_on_tool" AFTER INSERT OR UPDATE OR DELETE ON "tools"
  FOR EACH ROW EXECUTE FUNCTION "tools_version_on_tool_change"();
--> statement-breakpoint
CREATE FUNCTION "tools_version_on_grant_tool_change"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE "mcp_servers" SET "tools_version" = "tools_version" + 1
   WHERE "id" = (SELECT "server_id" FROM "grants"
                  WHERE "id" = CASE WHEN TG_OP = 'INSERT' THEN NEW."grant_id" ELSE OLD."grant_id" END);
  RETURN NULL;
END;
$$;
--> statement-breakpoint
CREATE TRIGGER "tools_version_on_grant_tool" AFTER INSERT OR DELETE ON "grant_tools"
  FOR EACH ROW EXECUTE FUNCTION "tools_version_on_grant_tool_change"();
