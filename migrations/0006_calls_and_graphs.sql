CREATE TABLE `call_events` (
	`id` text PRIMARY KEY NOT NULL,
	`workspace_id` text NOT NULL,
	`call_id` text NOT NULL,
	`kind` text NOT NULL,
	`dedupe_key` text NOT NULL,
	`data` text DEFAULT '{}' NOT NULL,
	`at` text NOT NULL,
	FOREIGN KEY (`workspace_id`) REFERENCES `workspaces`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`call_id`) REFERENCES `calls`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `call_events_dedupe_unique` ON `call_events` (`call_id`,`dedupe_key`);--> statement-breakpoint
CREATE INDEX `call_events_call_idx` ON `call_events` (`workspace_id`,`call_id`,`at`);--> statement-breakpoint
CREATE TABLE `calls` (
	`id` text PRIMARY KEY NOT NULL,
	`workspace_id` text NOT NULL,
	`service_id` text,
	`phone_number_id` text,
	`channel` text NOT NULL,
	`direction` text NOT NULL,
	`transport` text,
	`provider` text DEFAULT 'twilio' NOT NULL,
	`provider_sid` text NOT NULL,
	`to_number` text NOT NULL,
	`from_number_enc` text,
	`from_number_hash` text,
	`status` text NOT NULL,
	`status_rank` integer DEFAULT 0 NOT NULL,
	`patient_entity_id` text,
	`final_state` text,
	`escalated` integer DEFAULT false NOT NULL,
	`quality_score` real,
	`duration_seconds` integer,
	`recording` text,
	`started_at` text NOT NULL,
	`answered_at` text,
	`ended_at` text,
	`created_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL,
	`updated_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL,
	FOREIGN KEY (`workspace_id`) REFERENCES `workspaces`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`service_id`) REFERENCES `services`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `calls_provider_sid_unique` ON `calls` (`provider`,`provider_sid`);--> statement-breakpoint
CREATE INDEX `calls_workspace_started_idx` ON `calls` (`workspace_id`,`started_at`,`id`);--> statement-breakpoint
CREATE INDEX `calls_workspace_status_idx` ON `calls` (`workspace_id`,`status`,`started_at`);--> statement-breakpoint
CREATE INDEX `calls_from_idx` ON `calls` (`workspace_id`,`from_number_hash`);--> statement-breakpoint
CREATE TABLE `context_graphs` (
	`id` text PRIMARY KEY NOT NULL,
	`workspace_id` text NOT NULL,
	`service_id` text NOT NULL,
	`version` integer NOT NULL,
	`graph` text NOT NULL,
	`note` text DEFAULT '' NOT NULL,
	`created_by` text,
	`created_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL,
	FOREIGN KEY (`workspace_id`) REFERENCES `workspaces`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`service_id`) REFERENCES `services`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `context_graphs_service_version_unique` ON `context_graphs` (`workspace_id`,`service_id`,`version`);--> statement-breakpoint
CREATE TABLE `knowledge_entries` (
	`id` text PRIMARY KEY NOT NULL,
	`workspace_id` text NOT NULL,
	`service_id` text NOT NULL,
	`kind` text NOT NULL,
	`title` text NOT NULL,
	`body` text NOT NULL,
	`keywords` text DEFAULT '[]' NOT NULL,
	`created_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL,
	`updated_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL,
	FOREIGN KEY (`workspace_id`) REFERENCES `workspaces`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`service_id`) REFERENCES `services`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `knowledge_entries_service_idx` ON `knowledge_entries` (`workspace_id`,`service_id`,`kind`);--> statement-breakpoint
ALTER TABLE `services` ADD `voice_transport` text DEFAULT 'media_streams' NOT NULL;