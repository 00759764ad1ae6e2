/** Workspaces, services and phone numbers as the API shows and accepts them. */
import { z } from "zod";
import { normalizeE164 } from "../tenancy/phone";
import { Description, DisplayName, ResourceId, Timestamp, TimeZone, WorkspaceId } from "./common";

export const WorkspaceSchema = z
  .object({
    id: WorkspaceId,
    name: z.string(),
    timezone: z.string(),
    require_mfa: z.boolean(),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .meta({ id: "Workspace" });

export const WorkspaceCreate = z.strictObject({
  id: WorkspaceId,
  name: DisplayName,
  timezone: TimeZone.default("UTC"),
});
export const WorkspaceUpdate = z
  .strictObject({ name: DisplayName, timezone: TimeZone, require_mfa: z.boolean() })
  .partial()
  .refine((v) => Object.keys(v).length > 0, "nothing to update");

export const Persona = z.strictObject({
  agent_name: DisplayName.default("Alex"),
  tone: z.enum(["warm", "professional", "concise"]).default("warm"),
  greeting: Description.max(500).default(""),
  language: z
    .string()
    .regex(/^[a-z]{2}(-[A-Z]{2})?$/)
    .default("en-US"),
});

/** A word or phrase that sends the call to an operator: plain text, like any other field a person types. */
const Keyword = z
  .string()
  .trim()
  .min(1)
  .max(60)
  .regex(/^[^\p{Cc}<>]+$/u, "may not contain control characters or < >");

/** Where the call goes when no operator can take it: a phone number, kept in E.164 like every other. */
const FallbackNumber = z
  .string()
  .max(32)
  .refine((number) => normalizeE164(number) !== null, "not a valid phone number")
  .transform((number) => normalizeE164(number)!);

export const EscalationRules = z.strictObject({
  /** Risk score at or above which the call goes to an operator (0..1). */
  risk_threshold: z.number().min(0).max(1).default(0.7),
  keywords: z.array(Keyword).max(100).default([]),
  operator_type: z.enum(["clinical", "administrative", "crisis_counselor"]).default("administrative"),
  /** A skill the operator must have (a lowercase slug), or null for any operator of the type. */
  operator_skill: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]{0,39}$/, "a skill is a lowercase slug")
    .nullable()
    .default(null),
  fallback: z.enum(["forward", "callback", "continue"]).default("callback"),
  fallback_number: FallbackNumber.nullable().default(null),
});

/**
 * How Twilio carries a service's calls: Media Streams (raw audio to us: the HIPAA-eligible default) or
 * ConversationRelay (Twilio does speech-to-text and text-to-speech, text over the WebSocket).
 */
export const VOICE_TRANSPORTS = ["media_streams", "conversation_relay"] as const;
export const VoiceTransport = z.enum(VOICE_TRANSPORTS);
export type VoiceTransport = z.infer<typeof VoiceTransport>;

export const ServiceSchema = z
  .object({
    id: ResourceId,
    workspace_id: WorkspaceId,
    name: z.string(),
    description: z.string(),
    persona: Persona,
    context_graph_id: z.string().nullable(),
    voice_transport: VoiceTransport,
    escalation_rules: EscalationRules,
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .meta({ id: "Service" });

const ContextGraphId = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,63}$/)
  .nullable();

export const ServiceCreate = z.strictObject({
  name: DisplayName,
  description: Description.default(""),
  persona: Persona.default(Persona.parse({})),
  context_graph_id: ContextGraphId.default(null),
  voice_transport: VoiceTransport.default("media_streams"),
  escalation_rules: EscalationRules.default(EscalationRules.parse({})),
});
export const ServiceUpdate = z
  .strictObject({
    name: DisplayName,
    description: Description,
    persona: Persona,
    context_graph_id: ContextGraphId,
    voice_transport: VoiceTransport,
    escalation_rules: EscalationRules,
  })
  .partial()
  .refine((v) => Object.keys(v).length > 0, "nothing to update");

export const PhoneNumberSchema = z
  .object({
    id: ResourceId,
    workspace_id: WorkspaceId,
    number: z.string().meta({ description: "E.164", example: "+14155550123" }),
    service_id: ResourceId.nullable(),
    label: z.string(),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .meta({ id: "PhoneNumber" });

export const PhoneNumberCreate = z.strictObject({
  number: z.string().max(32).meta({ description: "Any common format; stored as E.164" }),
  service_id: ResourceId.nullable().default(null),
  label: DisplayName.optional(),
});
export const PhoneNumberUpdate = z
  .strictObject({ service_id: ResourceId.nullable(), label: DisplayName })
  .partial()
  .refine((v) => Object.keys(v).length > 0, "nothing to update");
