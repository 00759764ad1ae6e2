/**
 * TwiML, the XML Twilio reads back from a voice or messaging webhook
 * (https://www.twilio.com/docs/voice/twiml). Built as strings with every attribute and text node
 * escaped; names and attributes exactly as Twilio documents them for `<Connect><Stream>` (Media Streams)
 * and `<Connect><ConversationRelay>`.
 */

const XML_ENTITIES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&apos;",
};

/** Escapes text for an XML attribute value or text node; drops control characters XML 1.0 does not allow. */
export function xmlEscape(text: string): string {
  return text.replace(/(?![\t\n\r])\p{Cc}|[\uFFFE\uFFFF]/gu, "").replace(/[&<>"']/g, (c) => XML_ENTITIES[c]!);
}

type Attributes = Record<string, string | number | boolean | undefined>;

function element(name: string, attributes: Attributes = {}, children: string[] = []): string {
  const attrs = Object.entries(attributes)
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => ` ${key}="${xmlEscape(String(value))}"`)
    .join("");
  return children.length > 0 ? `<${name}${attrs}>${children.join("")}</${name}>` : `<${name}${attrs}/>`;
}

const XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>';

/** A complete TwiML document: `<Response>` around the given verbs. */
export function twimlDocument(verbs: string[] = []): string {
  return XML_DECLARATION + element("Response", {}, verbs);
}

/** `<Say>`: text spoken with Twilio's text-to-speech. */
export function say(text: string, options: { voice?: string; language?: string } = {}): string {
  return `<Say${options.voice ? ` voice="${xmlEscape(options.voice)}"` : ""}${
    options.language ? ` language="${xmlEscape(options.language)}"` : ""
  }>${xmlEscape(text)}</Say>`;
}

export const hangup = () => element("Hangup");

/** `<Parameter>` children: custom values Twilio hands to the WebSocket (`start.customParameters` / `setup.customParameters`). */
function parameters(values: Record<string, string>): string[] {
  return Object.entries(values).map(([name, value]) => element("Parameter", { name, value }));
}

/** `<Connect><Stream>`: a bidirectional Media Stream (raw 8 kHz μ-law audio both ways over `url`). */
export function connectStream(options: {
  url: string;
  parameters?: Record<string, string>;
  /** Where Twilio goes when the stream ends (the `<Connect>` `action`); without it the call ends. */
  action?: string;
}): string {
  return element("Connect", { action: options.action }, [
    element("Stream", { url: options.url }, parameters(options.parameters ?? {})),
  ]);
}

/** `<ConversationRelay>`'s attributes this service sets (names as in Twilio's TwiML reference). */
export interface ConversationRelayOptions {
  url: string;
  welcomeGreeting?: string;
  welcomeGreetingInterruptible?: "none" | "dtmf" | "speech" | "any";
  language?: string;
  interruptible?: "none" | "dtmf" | "speech" | "any";
  dtmfDetection?: boolean;
  ttsProvider?: string;
  voice?: string;
  transcriptionProvider?: string;
  hints?: string;
  parameters?: Record<string, string>;
  /** Where Twilio goes when the session ends (the `<Connect>` `action`, which receives `HandoffData`). */
  action?: string;
}

/** `<Connect><ConversationRelay>`: Twilio runs speech-to-text and text-to-speech; text over `url`. */
export function connectConversationRelay(options: ConversationRelayOptions): string {
  const { parameters: custom, action, ...attributes } = options;
  return element("Connect", { action }, [
    element("ConversationRelay", { ...attributes }, parameters(custom ?? {})),
  ]);
}

/** The polite answer for a number that leads to no service: spoken, then the call ends. */
export function notInServiceTwiml(): string {
  return twimlDocument([
    say("We're sorry. The number you have called is not in service. Please check the number and try again.", {
      language: "en-US",
    }),
    hangup(),
  ]);
}

/** `<Dial>`: connects the caller to another number. */
export const dial = (number: string) => element("Dial", {}, [xmlEscape(number)]);

/** How a call the agent ended leaves the agent (the CallSession's ending, as `handoff` holds it). */
export interface Handoff {
  reason: string;
  /** Where the caller goes: a transfer's number, or the service's fallback number for an escalation. */
  to?: string | null;
}

/**
 * The TwiML that carries out an ending after the goodbye has played: a transfer or a forwarded escalation
 * dials the number; an escalation nobody can take now promises a call back; anything else hangs up.
 */
export function handoffTwiml(handoff: Handoff): string {
  if (handoff.to && (handoff.reason === "transfer" || handoff.reason === "escalation"))
    return twimlDocument([dial(handoff.to)]);
  if (handoff.reason === "escalation")
    return twimlDocument([
      say("A member of our team will call you back as soon as possible. Goodbye.", { language: "en-US" }),
      hangup(),
    ]);
  return twimlDocument([hangup()]);
}
