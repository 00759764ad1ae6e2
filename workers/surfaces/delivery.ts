/**
 * Sending a surface's link to its patient on the surface's channel, through the outbox
 * (`workers/telephony/messaging.ts`), the same mechanism as a call's replies. SMS, WhatsApp and email get
 * one short plain message with the short link (`/l/{code}`, which hands out a fresh signed token when
 * opened); `voice` sends nothing (the agent collects the answers verbally; the link is returned for
 * reference) and neither does `web` (the link is for a patient portal to embed). The address is the
 * patient's current contact fact (`contact.phone`, `contact.email`) unless the caller names one. Marking
 * the surface delivered is the surface service's part.
 */
import { eq } from "drizzle-orm";
import { purposeMac } from "../../shared/crypto/hmac";
import { toHex } from "../../shared/encoding";
import { normalizeE164 } from "../../shared/tenancy/phone";
import type { EntityState } from "../../shared/world/projection";
import { findCall, workspaceNumbers } from "../db/calls";
import { database } from "../db/client";
import { workspaces } from "../db/schema";
import { ApiError } from "../errors";
import { type MessageChannel, queueMessage } from "../telephony/messaging";
import { entityState } from "../world/state";
import type { Surface, SurfaceChannel } from "./contracts";
import { shortLink } from "./tokens";

export const SURFACE_LINK_PURPOSE = "surface_link";

export interface DeliveredSurface {
  /** The outbox row, or null for `voice` and `web` (nothing is sent). */
  deliveryId: string | null;
  link: string;
  channel: SurfaceChannel;
}

/** Sends (queues) the surface's link; see the module comment. */
export async function deliverSurface(
  env: Env,
  surface: Surface,
  options: { channel?: SurfaceChannel; to?: string } = {},
): Promise<DeliveredSurface> {
  const channel = options.channel ?? surface.channel;
  const link = await shortLink(env, surface);
  if (channel === "voice" || channel === "web") return { deliveryId: null, link, channel };

  const db = database(env.DB);
  const workspace = await db.query.workspaces.findFirst({ where: eq(workspaces.id, surface.workspaceId) });
  if (!workspace) throw new ApiError("not_found", "Workspace not found");
  const to = options.to
    ? givenAddress(channel, options.to)
    : recipientFor(
        channel,
        await entityState(env, surface.workspaceId, { id: surface.entityId, entityType: "patient" }),
      );
  if (!to)
    throw new ApiError(
      "unprocessable",
      channel === "email"
        ? "The patient has no email address on record"
        : "The patient has no phone number on record",
      { field: "to", channel },
    );
  const from = channel === "email" ? undefined : await clinicNumber(env, surface);
  const body = surfaceMessage({
    clinic: workspace.name,
    title: surface.title,
    link,
    expiresAt: surface.expiresAt,
    timeZone: workspace.timezone,
  });
  const { deliveryId } = await queueMessage(env, {
    workspaceId: surface.workspaceId,
    channel,
    purpose: SURFACE_LINK_PURPOSE,
    key: `surface:${surface.id}:${await recipientTag(env, surface.workspaceId, to)}`,
    to,
    from,
    subject: channel === "email" ? `${workspace.name}: ${surface.title}` : undefined,
    body,
    callId: surface.callId,
    surfaceId: surface.id,
  });
  return { deliveryId, link, channel };
}

/** The patient's address for a channel from their current facts: `contact.phone` or `contact.email`. */
export function recipientFor(channel: MessageChannel, state: Pick<EntityState, "facts">): string | null {
  const fact = state.facts[channel === "email" ? "contact.email" : "contact.phone"];
  if (typeof fact?.value !== "string") return null;
  return givenAddress(channel, fact.value);
}

/** An address as the channel needs it (E.164 for phones), or null when it is not one. */
function givenAddress(channel: MessageChannel, value: string): string | null {
  const trimmed = value.trim();
  if (channel === "email") return /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(trimmed) ? trimmed : null;
  return normalizeE164(trimmed);
}

/** "{clinic}: please complete “{title}”: {link} (expires {date})", the date in the clinic's time zone. */
export function surfaceMessage(input: {
  clinic: string;
  title: string;
  link: string;
  expiresAt: string;
  timeZone?: string;
}): string {
  let date: string;
  try {
    date = new Intl.DateTimeFormat("en-US", {
      month: "short",
      day: "numeric",
      timeZone: input.timeZone || "UTC",
    }).format(new Date(input.expiresAt));
  } catch {
    date = input.expiresAt.slice(0, 10);
  }
  return `${input.clinic}: please complete “${input.title}”: ${input.link} (expires ${date})`;
}

/**
 * The clinic number a text comes from: the number the patient called when the surface came from a
 * call, else the workspace's first number.
 */
async function clinicNumber(env: Env, surface: Surface): Promise<string> {
  const db = database(env.DB);
  if (surface.callId) {
    const call = await findCall(db, surface.workspaceId, surface.callId);
    const number = call?.toNumber ? normalizeE164(call.toNumber) : null;
    if (number) return number;
  }
  const [first] = await workspaceNumbers(db, surface.workspaceId).limit(1);
  if (!first) throw new ApiError("conflict", "The workspace has no phone number to send from");
  return first.e164;
}

/** Ties the outbox key to the recipient without writing the address in plain text (the key is shown). */
async function recipientTag(env: Env, workspaceId: string, to: string): Promise<string> {
  const mac = await purposeMac(env.SIGNING_SECRET, "switchboard-delivery-recipient", workspaceId, to);
  return toHex(mac).slice(0, 16);
}
