-- mcp_servers.tools_version changes whenever what tools/list can answer for the server changes:
-- a tool added, edited or removed, or a grant's tool list for the server rewritten (consent).
-- Triggers keep it true for every writer (the app, the CLI in another process, a restore), so
-- the MCP endpoint can cache tools/list answers keyed by it (app/mcp/granted-tools.server.ts).
CREATE TRIGGER `tools_version_on_tool_insert` AFTER INSERT ON `tools` BEGIN
  UPDATE `mcp_servers` SET `tools_version` = `tools_version` + 1 WHERE `id` = NEW.`server_id`;
END;
--> statement-breakpoint
CREATE TRIGGER `tools_version_on_tool_update` AFTER UPDATE ON `tools` BEGIN
  UPDATE `mcp_servers` SET `tools_version` = `tools_version` + 1 WHERE `id` IN (OLD.`server_id`, NEW.`server_id`);
END;
--> statement-breakpoint
CREATE TRIGGER `tools_version_on_tool_delete` AFTER DELETE ON `tools` BEGIN
  UPDATE `mcp_servers` SET `tools_version` = `tools_version` + 1 WHERE `id` = OLD.`server_id`;
END;
--> statement-breakpoint
CREATE TRIGGER `tools_version_on_grant_tool_insert` AFTER INSERT ON `grant_tools` BEGIN
  UPDATE `mcp_servers` SET `tools_version` = `tools_version` + 1
   WHERE `id` = (SELECT `server_id` FROM `grants` WHERE `id` = NEW.`grant_id`);
END;
--> statement-breakpoint
CREATE TRIGGER `tools_version_on_grant_tool_delete` AFTER DELETE ON `grant_tools` BEGIN
  UPDATE `mcp_servers` SET `tools_version` = `tools_version` + 1
   WHERE `id` = (SELECT `server_id` FROM `grants` WHERE `id` = OLD.`grant_id`);
END;
