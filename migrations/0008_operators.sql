CREATE TABLE `operator_assignments` (
	`id` text PRIMARY KEY NOT NULL,
	`workspace_id` text NOT NULL,
	`call_id` text NOT NULL,
	`service_id` text,
	`operator_user_id` text,
	`escalated_at` text,
	`escalation_reason` text,
	`connected_at` text,
	`takeover_at` text,
	`handback_at` text,
	`transferred_at` text,
	`active_ms` integer DEFAULT 0 NOT NULL,
	`wrapped_at` text,
	`outcome` text,
	`notes_enc` text,
	`created_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL,
	`updated_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL,
	FOREIGN KEY (`workspace_id`) REFERENCES `workspaces`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `operator_assignments_call_operator_unique` ON `operator_assignments` (`workspace_id`,`call_id`,`operator_user_id`);--> statement-breakpoint
CREATE INDEX `operator_assignments_workspace_idx` ON `operator_assignments` (`workspace_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `operator_assignments_operator_idx` ON `operator_assignments` (`workspace_id`,`operator_user_id`,`created_at`);--> statement-breakpoint
CREATE TABLE `operators` (
	`workspace_id` text NOT NULL,
	`user_id` text NOT NULL,
	`type` text NOT NULL,
	`skills` text DEFAULT '[]' NOT NULL,
	`status` text DEFAULT 'offline' NOT NULL,
	`status_changed_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL,
	`created_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL,
	`updated_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL,
	PRIMARY KEY(`workspace_id`, `user_id`),
	FOREIGN KEY (`workspace_id`) REFERENCES `workspaces`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `operators_routing_idx` ON `operators` (`workspace_id`,`status`,`type`);