CREATE TABLE `openapi_drafts` (
	`id` text PRIMARY KEY NOT NULL,
	`server_id` text NOT NULL,
	`document` text NOT NULL,
	`source` text NOT NULL,
	`created_at` integer NOT NULL,
	`expires_at` integer NOT NULL,
	FOREIGN KEY (`server_id`) REFERENCES `mcp_servers`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `openapi_drafts_server_idx` ON `openapi_drafts` (`server_id`);--> statement-breakpoint
ALTER TABLE `mcp_servers` ADD `base_url` text;--> statement-breakpoint
ALTER TABLE `mcp_servers` ADD `api_auth` text;--> statement-breakpoint
ALTER TABLE `mcp_servers` ADD `api_secret_enc` text;--> statement-breakpoint
ALTER TABLE `tools` ADD `endpoint_params` text;--> statement-breakpoint
ALTER TABLE `tools` ADD `annotations` text;--> statement-breakpoint
ALTER TABLE `tools` ADD `output_schema` text;--> statement-breakpoint
ALTER TABLE `tools` ADD `imported_from` text;