DROP INDEX `audit_events_server_at_idx`;--> statement-breakpoint
CREATE INDEX `audit_events_server_idx` ON `audit_events` (`server_id`);--> statement-breakpoint
CREATE INDEX `audit_events_server_kind_idx` ON `audit_events` (`server_id`,`kind`);--> statement-breakpoint
CREATE INDEX `audit_events_server_client_idx` ON `audit_events` (`server_id`,`client_id`);