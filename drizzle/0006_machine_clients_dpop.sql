CREATE TABLE `replay_guard` (
	`key` text PRIMARY KEY NOT NULL,
	`expires_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `replay_guard_expires_idx` ON `replay_guard` (`expires_at`);--> statement-breakpoint
ALTER TABLE `access_tokens` ADD `dpop_jkt` text;--> statement-breakpoint
ALTER TABLE `grants` ADD `source` text DEFAULT 'consent' NOT NULL;--> statement-breakpoint
ALTER TABLE `mcp_servers` ADD `dpop_required` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `mcp_servers` ADD `enterprise_access` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `mcp_servers` ADD `enterprise_tools` text DEFAULT '[]' NOT NULL;--> statement-breakpoint
ALTER TABLE `refresh_tokens` ADD `dpop_jkt` text;