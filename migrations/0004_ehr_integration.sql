CREATE TABLE `data_sources` (
	`id` text PRIMARY KEY NOT NULL,
	`workspace_id` text NOT NULL,
	`name` text NOT NULL,
	`type` text NOT NULL,
	`base_url` text NOT NULL,
	`source_system` text NOT NULL,
	`auth` text NOT NULL,
	`secrets_enc` text,
	`resource_types` text NOT NULL,
	`poll_interval_seconds` integer DEFAULT 300 NOT NULL,
	`business_hours` text,
	`writeback` integer DEFAULT false NOT NULL,
	`enabled` integer DEFAULT true NOT NULL,
	`status` text DEFAULT 'idle' NOT NULL,
	`last_error` text,
	`cursors` text DEFAULT '{}' NOT NULL,
	`last_event_number` integer,
	`last_poll_started_at` text,
	`last_poll_at` text,
	`last_success_at` text,
	`last_notification_at` text,
	`created_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL,
	`updated_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL,
	FOREIGN KEY (`workspace_id`) REFERENCES `workspaces`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `data_sources_workspace_name_unique` ON `data_sources` (`workspace_id`,`name`);--> statement-breakpoint
CREATE INDEX `data_sources_workspace_created_idx` ON `data_sources` (`workspace_id`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `data_sources_enabled_idx` ON `data_sources` (`enabled`,`type`);--> statement-breakpoint
CREATE TABLE `source_events` (
	`id` text PRIMARY KEY NOT NULL,
	`workspace_id` text NOT NULL,
	`data_source_id` text NOT NULL,
	`channel` text NOT NULL,
	`resource_type` text NOT NULL,
	`resource_id` text NOT NULL,
	`version_key` text NOT NULL,
	`status` text NOT NULL,
	`error` text,
	`events_stored` integer DEFAULT 0 NOT NULL,
	`entity_id` text,
	`received_at` text NOT NULL,
	FOREIGN KEY (`workspace_id`) REFERENCES `workspaces`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`data_source_id`) REFERENCES `data_sources`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `source_events_version_unique` ON `source_events` (`workspace_id`,`data_source_id`,`resource_type`,`resource_id`,`version_key`);--> statement-breakpoint
CREATE INDEX `source_events_source_time_idx` ON `source_events` (`workspace_id`,`data_source_id`,`received_at`);--> statement-breakpoint
CREATE INDEX `source_events_time_idx` ON `source_events` (`workspace_id`,`received_at`);--> statement-breakpoint
CREATE TABLE `sync_events` (
	`id` text PRIMARY KEY NOT NULL,
	`workspace_id` text NOT NULL,
	`data_source_id` text,
	`kind` text NOT NULL,
	`world_event_id` text,
	`entity_id` text,
	`source_system` text,
	`fhir_resource_type` text,
	`fhir_resource_id` text,
	`payload_enc` text,
	`status` text DEFAULT 'pending' NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`error` text,
	`idempotency_key` text NOT NULL,
	`created_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL,
	`updated_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL,
	`synced_at` text,
	FOREIGN KEY (`workspace_id`) REFERENCES `workspaces`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`data_source_id`) REFERENCES `data_sources`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `sync_events_idempotency_unique` ON `sync_events` (`workspace_id`,`idempotency_key`);--> statement-breakpoint
CREATE INDEX `sync_events_status_idx` ON `sync_events` (`workspace_id`,`status`,`created_at`);--> statement-breakpoint
CREATE INDEX `sync_events_source_idx` ON `sync_events` (`workspace_id`,`data_source_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `sync_events_fhir_idx` ON `sync_events` (`workspace_id`,`fhir_resource_type`,`fhir_resource_id`);--> statement-breakpoint
CREATE INDEX `world_events_sync_idx` ON `world_events` (`workspace_id`,`sync_status`) WHERE "world_events"."sync_status" <> 'none';