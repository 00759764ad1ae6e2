/**
 * Reply templates of the local engine, in the persona. Patient data reaches a template only as a
 * `VerifiedPatient`, which only `revealPatient` can make and only when the caller's identity is
 * verified: an unverified caller's replies cannot contain the patient's name, appointments or
 * medications, because no template can reach them.
 */
import type { GraphState } from "../calls/context-graph";
import type { EnginePatient, EnginePersona, ToolResult, UpcomingAppointment } from "./engine";
import type { OfferedOption } from "./extract";
import type { SafetyCategory } from "./safety";

declare const verifiedBrand: unique symbol;

/** The patient's details a reply may use; exists only for a verified caller. */
export interface VerifiedPatient {
  readonly [verifiedBrand]: true;
  readonly first_name: string | null;
  readonly appointments: readonly UpcomingAppointment[];
}

/** The one gate from patient context to replies: null unless the caller's identity is verified. */
export function revealPatient(
  patient: EnginePatient | null,
  identityVerified: boolean,
): VerifiedPatient | null {
  if (!patient || identityVerified !== true) return null;
  const name = patient.identity.preferred_name ?? patient.identity.display_name?.split(" ")[0] ?? null;
  return {
    first_name: name,
    appointments: patient.upcoming_appointments ?? [],
  } as unknown as VerifiedPatient;
}

const speechFormatters = new Map<string, Intl.DateTimeFormat>();

/** "Tuesday, December 8 at 10:00 AM" in the clinic's zone. */
export function speakDateTime(instant: string, timeZone: string): string {
  let f = speechFormatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone,
      weekday: "long",
      month: "long",
      day: "numeric",
      hour: "numeric",
      minute: "2-digit",
    });
    speechFormatters.set(timeZone, f);
  }
  return f.format(new Date(instant)).replace(/, (\d{1,2}:\d{2})/, " at $1");
}

/** The first double-quoted sentence of an instruction: what an author wants said word for word. */
export function quoted(instruction: string): string | null {
  const m = /["\u201c]([^"\u201d]{2,400})["\u201d]/.exec(instruction);
  return m?.[1]?.trim() ?? null;
}

const isConcise = (persona: EnginePersona) => /concise|brief|direct/i.test(persona.tone);

export function acknowledge(persona: EnginePersona): string {
  return isConcise(persona) ? "Got it." : "Thank you.";
}

export function greeting(
  persona: EnginePersona,
  graphGreeting: string | undefined,
  patient: VerifiedPatient | null,
) {
  if (graphGreeting) return graphGreeting;
  const hello = patient?.first_name ? `Hi ${patient.first_name}, thank you` : "Thank you";
  return `${hello} for calling ${persona.clinic_name}, this is ${persona.name}. How can I help you today?`;
}

/** The opening line when the first state has nothing of its own to say. */
export function welcome(persona: EnginePersona, patient: VerifiedPatient | null): string {
  const hello = patient?.first_name ? `Hi ${patient.first_name}, thank you` : "Thank you";
  return `${hello} for calling ${persona.clinic_name}, this is ${persona.name}.`;
}

export const GOODBYE = (persona: EnginePersona) => `Thank you for calling ${persona.clinic_name}. Goodbye.`;
export const ANYTHING_ELSE = "Is there anything else I can help you with?";
export const EMPATHY = "I'm sorry you're dealing with this.";

const optionLabel = (option: OfferedOption, timeZone: string) =>
  option.label || (option.start ? speakDateTime(option.start, timeZone) : option.id);

const isOption = (value: unknown): value is OfferedOption =>
  typeof value === "object" && value !== null && typeof (value as OfferedOption).id === "string";

/**
 * What the agent says on entering a state that has no quoted line and nothing to ask, read from the
 * gist of its instructions: a wrap-up asks if there is anything else, a confirmation reads back the
 * option chosen, a choice asks which one.
 */
export function statePrompt(
  state: GraphState,
  persona: EnginePersona,
  collected: Record<string, unknown> = {},
  timeZone = "UTC",
): string {
  const line = quoted(state.instructions);
  if (line) return line;
  if (state.type === "terminal") return GOODBYE(persona);
  const gist = state.instructions.toLowerCase();
  if (/anything else/.test(gist)) return ANYTHING_ELSE;
  if (/confirm/.test(gist)) {
    const chosenOption = collected.selected_option ?? collected.slot;
    return isOption(chosenOption)
      ? `Just to confirm: ${optionLabel(chosenOption, timeZone)}. Shall I go ahead?`
      : "Shall I go ahead?";
  }
  if (/which one|which .* (want|would like)/.test(gist)) return "Which one would you like?";
  return state.type === "decision" ? "How can I help you today?" : "How can I help?";
}

/** A line for a tool's outcome the caller should hear about. */
export function toolOutcome(
  result: ToolResult,
  collected: Record<string, unknown>,
  timeZone: string,
): string | null {
  const chosenOption = collected.selected_option ?? collected.slot;
  const label = isOption(chosenOption) ? optionLabel(chosenOption, timeZone) : null;
  const ok = result.outcome === "ok";
  switch (result.name) {
    case "book_appointment":
      return ok ? (label ? `You're booked for ${label}.` : "You're booked.") : null;
    case "reschedule_appointment":
      return ok ? (label ? `Your appointment is now ${label}.` : "Your appointment is moved.") : null;
    case "cancel_appointment":
      return ok ? "Your appointment is cancelled." : null;
    case "find_slots":
      return result.outcome === "none" ? "I'm sorry, I couldn't find anything open around then." : null;
    case "verify_identity":
      return ok ? acknowledgeVerified : "I'm sorry, I couldn't match those details to a record.";
    case "create_surface": {
      const reason = (result.data as { reason?: string } | undefined)?.reason;
      if (reason === "verbal")
        return "You have a few forms open with us already, so let's go through this together now instead.";
      if (reason === "nothing_missing") return "We already have everything we need from you.";
      return null;
    }
    case "deliver_surface": {
      const channel = (result.data as { channel?: string } | undefined)?.channel;
      if (!ok) return null;
      return channel === "email"
        ? "I've just emailed you a short form. You can fill it in while we talk, or later."
        : "I've just texted you a short form. You can fill it in while we talk, or later.";
    }
    case "check_surface_status": {
      const data = result.data as { status?: string; answered?: number; required?: number } | undefined;
      if (!ok || !data?.status) return null;
      if (data.status === "completed") return "Your form came through, thank you.";
      if (data.status === "partial")
        return `I can see you've started the form: ${data.answered ?? 0} of ${data.required ?? 0} answers so far.`;
      return "I don't see your answers yet. The link is in the message we sent.";
    }
    default:
      return null;
  }
}

const acknowledgeVerified = "Thank you, I've found your record.";

export function didNotCatch(prompt: string): string {
  return `Sorry, I didn't quite catch that. ${prompt}`;
}

export const CHECKING = "One moment while I check that.";
/** Said when the patient finishes a form while still on the call. */
export const SURFACE_COMPLETED = "Thank you, I can see your form just came through.";
export const STILL_CHECKING = "I'm still checking, just a moment.";

export function invalidBirthDate(reason: "impossible" | "future" | "too_old"): string {
  return reason === "impossible"
    ? "That date doesn't seem to exist."
    : "That doesn't sound like a date of birth.";
}

export function offerOptions(options: readonly OfferedOption[], timeZone: string): string {
  const labels = options.map((o) => o.label || (o.start ? speakDateTime(o.start, timeZone) : o.id));
  if (labels.length === 1) return `I have ${labels[0]}.`;
  return `I have ${labels.slice(0, -1).join(", ")}, or ${labels.at(-1)}.`;
}

export function chosen(option: OfferedOption, timeZone: string): string {
  return `${optionLabel(option, timeZone)}, perfect.`;
}

export function safetyReply(category: SafetyCategory): string {
  if (category === "crisis")
    return "I'm really sorry you're going through this, and I'm glad you told me. I'm connecting you with someone right now. If you are in immediate danger, please call 911, or call or text 988 to reach the Suicide and Crisis Lifeline.";
  return "What you're describing needs attention right away. If this is an emergency, please hang up and call 911. I'm connecting you with a member of our clinical team now.";
}

export function escalationReply(
  reason: "out_of_scope" | "loop_limit" | "risk" | "behavior" | "tool_error" | "caller_request" | "handoff",
): string {
  switch (reason) {
    case "out_of_scope":
      return "That's a question I want to get right for you, so I'm connecting you with a member of our team.";
    case "caller_request":
      return "Of course. I'm connecting you with a member of our team now.";
    case "handoff":
      return "I'm connecting you with a member of our team now.";
    case "loop_limit":
      return "I'm sorry for the trouble. Let me connect you with a member of our team who can help.";
    default:
      return "I'd like to bring in a member of our team to help you with this. One moment please.";
  }
}

export const NEED_VERIFICATION =
  "I can help with that once I've verified your identity. Could I have your full name and date of birth?";

export function nextAppointment(patient: VerifiedPatient, timeZone: string): string {
  const next = patient.appointments[0];
  if (!next) return "I don't see any upcoming appointments for you.";
  const with_ = next.provider ? ` with ${next.provider}` : "";
  const at = next.location ? ` at ${next.location}` : "";
  return `Your next appointment is ${speakDateTime(next.start, timeZone)}${with_}${at}.`;
}

/** The verified caller's upcoming appointments (at most three), read out so they can pick one. */
export function upcomingAppointments(patient: VerifiedPatient, timeZone: string): string {
  const said = patient.appointments.slice(0, 3).map((a) => {
    const with_ = a.provider ? ` with ${a.provider}` : "";
    return `${speakDateTime(a.start, timeZone)}${with_}`;
  });
  if (said.length === 0) return "I don't see any upcoming appointments for you.";
  if (said.length === 1) return `I see your appointment on ${said[0]}.`;
  return `I see your appointments on ${said.slice(0, -1).join(", ")}, and ${said.at(-1)}.`;
}

export function knowledgeAnswer(body: string): string {
  return body.trim();
}

export const KNOWLEDGE_LATER = "I can help with that in just a moment.";
