CREATE TABLE `deliveries` (
	`id` text PRIMARY KEY NOT NULL,
	`workspace_id` text NOT NULL,
	`dedupe_key` text NOT NULL,
	`channel` text NOT NULL,
	`purpose` text NOT NULL,
	`call_id` text,
	`surface_id` text,
	`provider` text NOT NULL,
	`status` text NOT NULL,
	`provider_id` text,
	`to_enc` text NOT NULL,
	`from_enc` text,
	`body_enc` text NOT NULL,
	`error_code` text,
	`attempts` integer DEFAULT 0 NOT NULL,
	`created_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL,
	`sent_at` text,
	`updated_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL,
	FOREIGN KEY (`workspace_id`) REFERENCES `workspaces`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `deliveries_dedupe_unique` ON `deliveries` (`workspace_id`,`dedupe_key`);--> statement-breakpoint
CREATE INDEX `deliveries_workspace_created_idx` ON `deliveries` (`workspace_id`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `deliveries_surface_idx` ON `deliveries` (`workspace_id`,`surface_id`);--> statement-breakpoint
CREATE INDEX `deliveries_call_idx` ON `deliveries` (`workspace_id`,`call_id`);--> statement-breakpoint
CREATE TABLE `gap_requirements` (
	`id` text PRIMARY KEY NOT NULL,
	`workspace_id` text NOT NULL,
	`name` text NOT NULL,
	`trigger` text NOT NULL,
	`lookahead_hours` integer NOT NULL,
	`required_paths` text NOT NULL,
	`channel` text NOT NULL,
	`priority` text NOT NULL,
	`template_id` text,
	`enabled` integer DEFAULT true NOT NULL,
	`created_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL,
	`updated_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL,
	FOREIGN KEY (`workspace_id`) REFERENCES `workspaces`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `gap_requirements_workspace_idx` ON `gap_requirements` (`workspace_id`,`enabled`);--> statement-breakpoint
CREATE TABLE `gate_decisions` (
	`id` text PRIMARY KEY NOT NULL,
	`workspace_id` text NOT NULL,
	`entity_id` text NOT NULL,
	`requirement_id` text,
	`run_id` text,
	`decision` text NOT NULL,
	`reason` text NOT NULL,
	`channel` text,
	`surface_id` text,
	`at` text NOT NULL,
	FOREIGN KEY (`workspace_id`) REFERENCES `workspaces`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `gate_decisions_workspace_idx` ON `gate_decisions` (`workspace_id`,`at`);--> statement-breakpoint
CREATE INDEX `gate_decisions_entity_idx` ON `gate_decisions` (`workspace_id`,`entity_id`,`at`);--> statement-breakpoint
CREATE TABLE `surface_answers` (
	`workspace_id` text NOT NULL,
	`surface_id` text NOT NULL,
	`field_key` text NOT NULL,
	`value_enc` text NOT NULL,
	`saved_at` text NOT NULL,
	PRIMARY KEY(`surface_id`, `field_key`),
	FOREIGN KEY (`workspace_id`) REFERENCES `workspaces`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`surface_id`) REFERENCES `surfaces`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE TABLE `surface_settings` (
	`workspace_id` text PRIMARY KEY NOT NULL,
	`gates` text NOT NULL,
	`updated_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL,
	FOREIGN KEY (`workspace_id`) REFERENCES `workspaces`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE TABLE `surface_templates` (
	`id` text PRIMARY KEY NOT NULL,
	`workspace_id` text NOT NULL,
	`name` text NOT NULL,
	`kind` text NOT NULL,
	`spec` text NOT NULL,
	`prefill_paths` text NOT NULL,
	`created_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL,
	`updated_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL,
	FOREIGN KEY (`workspace_id`) REFERENCES `workspaces`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `surface_templates_name_unique` ON `surface_templates` (`workspace_id`,`name`);--> statement-breakpoint
CREATE TABLE `surfaces` (
	`id` text PRIMARY KEY NOT NULL,
	`workspace_id` text NOT NULL,
	`entity_id` text NOT NULL,
	`parent_id` text,
	`template_id` text,
	`title` text NOT NULL,
	`spec_enc` text NOT NULL,
	`status` text NOT NULL,
	`channel` text NOT NULL,
	`created_by_type` text NOT NULL,
	`created_by_id` text,
	`call_id` text,
	`requirement_id` text,
	`field_count` integer NOT NULL,
	`required_count` integer NOT NULL,
	`answered_count` integer DEFAULT 0 NOT NULL,
	`last_field_key` text,
	`token_jti` text,
	`revoked_at` text,
	`expires_at` text NOT NULL,
	`delivered_at` text,
	`opened_at` text,
	`completed_at` text,
	`archived_at` text,
	`created_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL,
	`updated_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL,
	FOREIGN KEY (`workspace_id`) REFERENCES `workspaces`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `surfaces_workspace_created_idx` ON `surfaces` (`workspace_id`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `surfaces_workspace_status_idx` ON `surfaces` (`workspace_id`,`status`,`created_at`);--> statement-breakpoint
CREATE INDEX `surfaces_entity_idx` ON `surfaces` (`workspace_id`,`entity_id`,`status`);--> statement-breakpoint
CREATE INDEX `surfaces_expiry_idx` ON `surfaces` (`status`,`expires_at`);