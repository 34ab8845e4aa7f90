CREATE TABLE `shown_once_secrets` (
	`ref_hash` text PRIMARY KEY NOT NULL,
	`user_id` text NOT NULL,
	`purpose` text NOT NULL,
	`secret_enc` text NOT NULL,
	`created_at` integer NOT NULL,
	`expires_at` integer NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `shown_once_secrets_expires_idx` ON `shown_once_secrets` (`expires_at`);--> statement-breakpoint
ALTER TABLE `refresh_tokens` ADD `superseded_at` integer;--> statement-breakpoint
ALTER TABLE `refresh_tokens` ADD `access_token_hash` text;