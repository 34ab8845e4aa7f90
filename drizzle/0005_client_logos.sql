CREATE TABLE `client_logos` (
	`digest` text PRIMARY KEY NOT NULL,
	`content_type` text NOT NULL,
	`bytes` blob NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
ALTER TABLE `oauth_clients` ADD `logo_digest` text;