CREATE TABLE `entity_identifiers` (
	`workspace_id` text NOT NULL,
	`kind` text NOT NULL,
	`value_hash` text NOT NULL,
	`entity_id` text NOT NULL,
	`created_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL,
	PRIMARY KEY(`workspace_id`, `kind`, `value_hash`, `entity_id`),
	FOREIGN KEY (`entity_id`) REFERENCES `world_entities`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `entity_identifiers_entity_idx` ON `entity_identifiers` (`entity_id`);--> statement-breakpoint
CREATE TABLE `entity_terms` (
	`workspace_id` text NOT NULL,
	`term_hash` text NOT NULL,
	`entity_id` text NOT NULL,
	PRIMARY KEY(`workspace_id`, `term_hash`, `entity_id`),
	FOREIGN KEY (`entity_id`) REFERENCES `world_entities`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `entity_terms_entity_idx` ON `entity_terms` (`entity_id`);--> statement-breakpoint
CREATE TABLE `memory_patterns` (
	`workspace_id` text NOT NULL,
	`entity_id` text NOT NULL,
	`patterns` text NOT NULL,
	`computed_at` text NOT NULL,
	PRIMARY KEY(`workspace_id`, `entity_id`)
);
--> statement-breakpoint
CREATE TABLE `review_items` (
	`id` text PRIMARY KEY NOT NULL,
	`workspace_id` text NOT NULL,
	`kind` text NOT NULL,
	`entity_id` text NOT NULL,
	`subject_id` text NOT NULL,
	`path` text,
	`domain` text NOT NULL,
	`payload_enc` text NOT NULL,
	`priority` integer NOT NULL,
	`status` text DEFAULT 'pending' NOT NULL,
	`claimed_by` text,
	`claimed_at` text,
	`decided_by` text,
	`decided_at` text,
	`decision_event_id` text,
	`created_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL,
	FOREIGN KEY (`workspace_id`) REFERENCES `workspaces`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `review_items_queue_idx` ON `review_items` (`workspace_id`,`status`,`priority`,`created_at`);--> statement-breakpoint
CREATE INDEX `review_items_entity_idx` ON `review_items` (`workspace_id`,`entity_id`);--> statement-breakpoint
CREATE UNIQUE INDEX `review_items_subject_unique` ON `review_items` (`workspace_id`,`kind`,`subject_id`);--> statement-breakpoint
CREATE TABLE `world_edges` (
	`id` text PRIMARY KEY NOT NULL,
	`workspace_id` text NOT NULL,
	`from_id` text NOT NULL,
	`to_id` text NOT NULL,
	`edge_type` text NOT NULL,
	`confidence` real NOT NULL,
	`source` text NOT NULL,
	`details` text DEFAULT '{}' NOT NULL,
	`created_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL,
	FOREIGN KEY (`workspace_id`) REFERENCES `workspaces`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `world_edges_unique` ON `world_edges` (`workspace_id`,`from_id`,`to_id`,`edge_type`);--> statement-breakpoint
CREATE INDEX `world_edges_to_idx` ON `world_edges` (`workspace_id`,`to_id`);--> statement-breakpoint
CREATE INDEX `world_edges_type_idx` ON `world_edges` (`workspace_id`,`edge_type`,`confidence`);--> statement-breakpoint
CREATE TABLE `world_entities` (
	`id` text PRIMARY KEY NOT NULL,
	`workspace_id` text NOT NULL,
	`entity_type` text NOT NULL,
	`display_name_enc` text,
	`source` text NOT NULL,
	`confidence` real DEFAULT 0 NOT NULL,
	`merged_into` text,
	`event_count` integer DEFAULT 0 NOT NULL,
	`last_event_at` text,
	`created_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL,
	`updated_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL,
	FOREIGN KEY (`workspace_id`) REFERENCES `workspaces`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `world_entities_type_idx` ON `world_entities` (`workspace_id`,`entity_type`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `world_entities_source_idx` ON `world_entities` (`workspace_id`,`source`,`confidence`);--> statement-breakpoint
CREATE TABLE `world_events` (
	`id` text PRIMARY KEY NOT NULL,
	`workspace_id` text NOT NULL,
	`entity_id` text NOT NULL,
	`entity_type` text NOT NULL,
	`domain` text NOT NULL,
	`event_type` text NOT NULL,
	`data_enc` text NOT NULL,
	`confidence` real NOT NULL,
	`source` text NOT NULL,
	`source_system` text,
	`produced_by` text,
	`effective_at` text NOT NULL,
	`ingested_at` text NOT NULL,
	`supersedes` text,
	`fhir_resource_type` text,
	`fhir_resource_id` text,
	`sync_status` text DEFAULT 'none' NOT NULL,
	`idempotency_key` text NOT NULL,
	FOREIGN KEY (`workspace_id`) REFERENCES `workspaces`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`entity_id`) REFERENCES `world_entities`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `world_events_idempotency_unique` ON `world_events` (`workspace_id`,`idempotency_key`);--> statement-breakpoint
CREATE INDEX `world_events_entity_idx` ON `world_events` (`workspace_id`,`entity_id`,`effective_at`);--> statement-breakpoint
CREATE INDEX `world_events_fhir_idx` ON `world_events` (`workspace_id`,`fhir_resource_type`,`fhir_resource_id`);--> statement-breakpoint
CREATE INDEX `world_events_ingested_idx` ON `world_events` (`workspace_id`,`ingested_at`);--> statement-breakpoint
CREATE INDEX `world_events_supersedes_idx` ON `world_events` (`workspace_id`,`supersedes`);--> statement-breakpoint
ALTER TABLE `workspaces` ADD `world_settings` text DEFAULT '{}' NOT NULL;