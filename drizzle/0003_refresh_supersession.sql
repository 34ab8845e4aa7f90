ALTER TABLE `refresh_tokens` ADD `superseded_at` integer;--> statement-breakpoint
ALTER TABLE `refresh_tokens` ADD `access_token_hash` text;