/**
 * Memory L1, the pure part: turning a conversation into candidate facts for the verification pipeline.
 * The deterministic extractor reads only the caller's turns: allergy statements, medication mentions from
 * a small lexicon, contact preferences and language. A model may do the same job; its answer must pass
 * the checks below before anything is believed. Both give `{event_type, data, basis}` items, the shape
 * `POST /world/extractions` takes, and the judge still checks every one against the caller's words.
 */
import { z } from "zod";
import { type EventType, type FactValue, parseEventData } from "./events";
import type { Speaker } from "./memory";

/** What an extractor may claim about how it knows: never more than the caller saying it. */
export const EXTRACTION_BASES = ["agent_confirmed", "agent_mentioned", "agent_inferred"] as const;
export const EXTRACTABLE_EVENT_TYPES = [
  "allergy.recorded",
  "medication.recorded",
  "condition.recorded",
  "preference.recorded",
] as const satisfies readonly EventType[];

/** One candidate fact, in the shape `POST /world/extractions` takes. */
export interface ExtractedCandidate {
  event_type: (typeof EXTRACTABLE_EVENT_TYPES)[number];
  data: Record<string, FactValue>;
  basis: (typeof EXTRACTION_BASES)[number];
}

const lower = (text: string) => text.toLowerCase().replace(/[’`]/g, "'");
const capitalize = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);
const sentencesOf = (text: string) =>
  text
    .split(/[.!?;\n]+/)
    .map((s) => lower(s).trim())
    .filter(Boolean);

/** Generic names, with the brand names callers use for them. */
const MEDICATIONS: Record<string, string[]> = {
  metformin: ["glucophage"],
  lisinopril: ["zestril", "prinivil"],
  atorvastatin: ["lipitor"],
  simvastatin: ["zocor"],
  rosuvastatin: ["crestor"],
  amlodipine: ["norvasc"],
  levothyroxine: ["synthroid"],
  losartan: ["cozaar"],
  metoprolol: ["lopressor", "toprol"],
  albuterol: ["proair", "ventolin"],
  omeprazole: ["prilosec"],
  pantoprazole: ["protonix"],
  sertraline: ["zoloft"],
  fluoxetine: ["prozac"],
  escitalopram: ["lexapro"],
  gabapentin: ["neurontin"],
  hydrochlorothiazide: [],
  furosemide: ["lasix"],
  warfarin: ["coumadin"],
  apixaban: ["eliquis"],
  insulin: ["lantus", "humalog", "novolog"],
  prednisone: [],
  montelukast: ["singulair"],
  tamsulosin: ["flomax"],
};
const MEDICATION_WORDS = new Map<string, string>(
  Object.entries(MEDICATIONS).flatMap(([generic, brands]) => [
    [generic, generic] as const,
    ...brands.map((b) => [b, generic] as const),
  ]),
);

const REACTIONS: [RegExp, string][] = [
  [/\banaphyla(xis|ctic)\b/, "anaphylaxis"],
  [/\bhives\b/, "hives"],
  [/\brash\b/, "rash"],
  [/\bswell(ing|s|ed)?\b/, "swelling"],
  [/\b(trouble|difficulty|hard time) breathing\b|\bcan'?t breathe\b/, "difficulty breathing"],
  [/\bitch(ing|y)?\b/, "itching"],
  [/\b(nausea|nauseous|throw(ing)? up|vomit(ing)?)\b/, "nausea"],
];

/** Something the caller said, and the words an agent would read it back with. */
interface Mention {
  data: Record<string, FactValue>;
  words: string[];
}

const NOT_A_SUBSTANCE = new Set(["anything", "nothing", "everything", "it", "that", "them", "this", "any"]);

/** `penicillin and sulfa drugs, too` → [penicillin, sulfa drugs]. */
function substancesIn(phrase: string): string[] {
  const clause = phrase
    .split(/\b(?:but|which|because|so|that|when|if|it|i|they|since|though)\b/)[0]!
    .replace(/\b(too|also|as well|anymore|actually|severe|serious|mild|bad|slight|really|very)\b/g, " ");
  return clause
    .split(/,|\band\b|\bor\b|&/)
    .map((s) =>
      s
        .replace(/^\s*(the|a|an|some|my)\s+/, "")
        .replace(/[^a-z0-9 '-]/g, " ")
        .replace(/\s+/g, " ")
        .trim(),
    )
    .filter((s) => s.length >= 3 && s.split(" ").length <= 4 && !NOT_A_SUBSTANCE.has(s));
}

const ALLERGY_PATTERNS = [
  /\ballergic to (.+)/,
  /\ban? allergy to (.+)/,
  /\ballergies to (.+)/,
  /\b(?:i have|i've got|i got) an? ([a-z -]{3,30}?) allergy\b/,
];

/** `not`, `never`, `no longer` right before the statement: "I'm not allergic to anything". */
const NEGATED = /(\b(not|never|no longer)|n't)\s+(really |actually )?(have )?(an? )?$/;

function allergiesIn(sentence: string): Mention[] {
  if (/\bno (known )?allergies\b/.test(sentence)) return [];
  const substances = ALLERGY_PATTERNS.flatMap((re) => {
    const m = re.exec(sentence);
    return m && !NEGATED.test(sentence.slice(0, m.index)) ? substancesIn(m[1]!) : [];
  });
  const unique = [...new Set(substances)];
  const reaction = REACTIONS.find(([re]) => re.test(sentence))?.[1];
  const severity = /\b(anaphyla|epipen|epi-pen|throat (closes|closed|swells)|severe|hospital)/.test(sentence)
    ? "severe"
    : /\bmild(ly)?\b/.test(sentence)
      ? "mild"
      : undefined;
  return unique.map((substance) => ({
    data: {
      substance: capitalize(substance),
      status: "active",
      // A reaction or severity is only attributed when one substance is named.
      ...(unique.length === 1 && reaction ? { reaction } : {}),
      ...(unique.length === 1 && severity ? { severity } : {}),
    },
    words: [substance],
  }));
}

const DOSE = /\b(\d+(?:\.\d+)?)\s*(mg|mcg|milligrams?|micrograms?|units?|ml)\b/;
const FREQUENCIES: [RegExp, string][] = [
  [/\b(three times a day|three times daily)\b/, "three times daily"],
  [/\b(twice a day|twice daily|two times a day)\b/, "twice daily"],
  [/\b(once a day|once daily|every day|every morning|daily)\b/, "once daily"],
  [/\b(at night|at bedtime|before bed)\b/, "at bedtime"],
  [/\b(as needed|when i need it)\b/, "as needed"],
];

function medicationsIn(sentence: string): Mention[] {
  if (/\ballerg/.test(sentence)) return [];
  const found = new Map<string, string>();
  for (const word of sentence.split(/[^a-z]+/)) {
    const generic = MEDICATION_WORDS.get(word);
    if (generic && !found.has(generic)) found.set(generic, word);
  }
  if (found.size === 0) return [];
  const stopped = /\b(stopped|quit|no longer|not taking|discontinued|(i'm|i am|been|went) off)\b/.test(
    sentence,
  );
  const dose = DOSE.exec(sentence);
  const frequency = FREQUENCIES.find(([re]) => re.test(sentence))?.[1];
  return [...found].map(([generic, said]) => ({
    data: {
      name: capitalize(generic),
      status: stopped ? "stopped" : "active",
      ...(found.size === 1 && dose ? { dose: `${dose[1]} ${dose[2]!.replace(/^milligrams?$/, "mg")}` } : {}),
      ...(found.size === 1 && frequency ? { frequency } : {}),
    },
    words: [said],
  }));
}

const CHANNEL_PHRASES: [RegExp, "sms" | "voice" | "email" | "whatsapp", string][] = [
  [
    /\b(text me|send (me )?a text|texting (is|works) (better|best|easier)|prefer (a )?text(s|ing)?|by text|via text|texts? (is|are) (better|best|easier))\b/,
    "sms",
    "text",
  ],
  [/\b(email me|e-mail me|send (me )?an e-?mail|by e-?mail|prefer e-?mail)\b/, "email", "email"],
  [/\b(on|via|by|prefer|use) whatsapp\b/, "whatsapp", "whatsapp"],
  [
    /\b(call me (back )?instead|prefer (to be called|a call)|prefer (a )?(phone )?calls?|phone calls? (is|are) (better|best|easier)|by phone)\b/,
    "voice",
    "call",
  ],
];

const TIME_PHRASES: [RegExp, "morning" | "afternoon" | "evening" | "any", string][] = [
  [/\b(any ?time|whenever)\b/, "any", "any"],
  [/\b(mornings?|before noon|early in the day)\b/, "morning", "morning"],
  [/\b(afternoons?|lunch ?time|after lunch)\b/, "afternoon", "afternoon"],
  [/\b(evenings?|after work|after (5|6|five|six)( ?pm)?|at night)\b/, "evening", "evening"],
];
const TIME_CUE = /\b(better|best|prefer|works?|good|easier|only|call|text|reach|contact)\b/;

const LANGUAGES: [RegExp, string][] = [
  [/\b(spanish|espanol|español)\b/, "es"],
  [/\b(mandarin|chinese|cantonese)\b/, "zh"],
  [/\bvietnamese\b/, "vi"],
  [/\bportuguese\b/, "pt"],
  [/\bfrench\b/, "fr"],
  [/\b(tagalog|filipino)\b/, "tl"],
];

function preferencesIn(sentence: string): Mention[] {
  const out: Mention[] = [];
  if (
    /\b(do not|don't|dont|stop|never) (contact|bother) me\b|\b(take|remove) me off\b|\bunsubscribe\b/.test(
      sentence,
    )
  ) {
    out.push({ data: { do_not_contact: true }, words: ["contact"] });
    return out;
  }
  const channel = CHANNEL_PHRASES.find(([re]) => re.test(sentence));
  if (channel) out.push({ data: { channel: channel[1] }, words: [channel[2]] });
  // "afternoons don't work for me" is not a preference for afternoons.
  const negated = /\b(not|never|can't|cannot|don't|doesn't|won't|isn't|aren't)\b/.test(sentence);
  if ((channel || TIME_CUE.test(sentence)) && !negated && !/\bappointment\b/.test(sentence)) {
    const time = TIME_PHRASES.find(([re]) => re.test(sentence));
    if (time) out.push({ data: { contact_time: time[1] }, words: [time[2]] });
  }
  if (/\b(speak|prefer|in|habla|hablo)\b/.test(sentence)) {
    for (const [re, code] of LANGUAGES) {
      const said = re.exec(sentence);
      if (said) {
        out.push({ data: { language: code }, words: [said[0]] });
        break;
      }
    }
  }
  return out;
}

const AFFIRMATION =
  /^\s*(yes|yeah|yep|yup|correct|right|exactly|that's right|that is right|uh-huh|mm-hmm|sure)\b/i;

/** The caller affirmed, right after an agent turn that read the value back. */
function confirmed(turns: { speaker: Speaker; text: string }[], from: number, words: string[]): boolean {
  const readBack = turns.findIndex(
    (t, i) => i > from && t.speaker === "agent" && words.some((w) => lower(t.text).includes(w)),
  );
  if (readBack < 0) return false;
  const reply = turns.slice(readBack + 1).find((t) => t.speaker === "caller");
  return reply !== undefined && AFFIRMATION.test(reply.text);
}

/**
 * The deterministic extractor: allergy statements, medication mentions from a small lexicon, contact
 * preferences and language, from the caller's turns only (what the agent said is never evidence).
 * A fact the agent read back and the caller affirmed is `agent_confirmed`; otherwise `agent_mentioned`.
 * Later mentions of the same path win; at most 50 candidates, each valid for its event type.
 */
export function extractCandidates(turns: { speaker: Speaker; text: string }[]): ExtractedCandidate[] {
  const byPath = new Map<string, ExtractedCandidate>();
  turns.forEach((turn, index) => {
    if (turn.speaker !== "caller") return;
    for (const sentence of sentencesOf(turn.text)) {
      const found: (readonly [ExtractedCandidate["event_type"], Mention])[] = [
        ...allergiesIn(sentence).map((c) => ["allergy.recorded", c] as const),
        ...medicationsIn(sentence).map((c) => ["medication.recorded", c] as const),
        ...preferencesIn(sentence).map((c) => ["preference.recorded", c] as const),
      ];
      for (const [eventType, candidate] of found) {
        const parsed = parseEventData(eventType, "patient", candidate.data);
        if (!parsed.ok || parsed.facts.length === 0) continue;
        const path = parsed.facts[0]!.path;
        const wasConfirmed = byPath.get(path)?.basis === "agent_confirmed";
        byPath.set(path, {
          event_type: eventType,
          data: candidate.data,
          basis:
            wasConfirmed || confirmed(turns, index, candidate.words) ? "agent_confirmed" : "agent_mentioned",
        });
      }
    }
  });
  return [...byPath.values()].slice(0, 50);
}

const TOPIC_PATTERNS: [RegExp, string][] = [
  [/\b(refill|ran out|running out|renew (my )?prescription|pharmacy)\b/, "medication_refill"],
  [/\b(appointment|schedule|reschedule|book|cancel my)\b/, "appointment_scheduling"],
  [/\b(lab|labs|blood work|test results|results)\b/, "lab_results"],
  [/\b(bill|billing|charge|charged|payment|invoice|copay)\b/, "billing_question"],
  [/\b(insurance|coverage|member id)\b/, "insurance_update"],
  [/\b(pain|fever|cough|dizzy|dizziness|headache|nausea|short of breath|rash)\b/, "symptom_check"],
  [/\breferral\b/, "referral"],
];

/** Topics of a conversation, from the caller's words, for an `interaction.recorded` event. */
export function topicsOf(turns: { speaker: Speaker; text: string }[]): string[] {
  const text = lower(
    turns
      .filter((t) => t.speaker === "caller")
      .map((t) => t.text)
      .join(" "),
  );
  return TOPIC_PATTERNS.filter(([re]) => re.test(text)).map(([, topic]) => topic);
}

// Model-backed extraction: the request it is given and the checks its answer must pass.

const ModelFact = z.object({
  event_type: z.enum(EXTRACTABLE_EVENT_TYPES),
  data: z.record(z.string(), z.unknown()),
  basis: z.enum(EXTRACTION_BASES),
});
const ModelOutput = z.object({ facts: z.array(ModelFact).max(50) });

/** The JSON schema the model's answer is constrained to. */
export const MODEL_OUTPUT_JSON_SCHEMA = z.toJSONSchema(ModelOutput);

export const EXTRACTION_INSTRUCTIONS = `You extract facts about a patient from a clinic phone or text conversation.
Use only what the CALLER said; never what the agent or operator said. Do not guess.
Answer with JSON: {"facts": [{"event_type", "data", "basis"}]}. Allowed:
- "allergy.recorded": data {"substance", "reaction"?, "severity"?: "mild"|"moderate"|"severe"}
- "medication.recorded": data {"name", "dose"?, "frequency"?, "status"?: "active"|"stopped"}
- "condition.recorded": data {"name"}
- "preference.recorded": data with one of {"channel": "voice"|"sms"|"email"|"whatsapp"},
  {"contact_time": "morning"|"afternoon"|"evening"|"any"}, {"language": BCP-47 code}, {"do_not_contact": true}
basis: "agent_confirmed" when the agent read it back and the caller agreed, "agent_mentioned" when the caller
said it, "agent_inferred" when it follows from their words without being said. No facts: {"facts": []}.`;

export function modelExtractionInput(turns: { speaker: Speaker; text: string }[]) {
  return {
    messages: [
      { role: "system", content: EXTRACTION_INSTRUCTIONS },
      {
        role: "user",
        content: JSON.stringify(turns.map((t) => ({ speaker: t.speaker, text: t.text.slice(0, 2000) }))),
      },
    ],
    response_format: { type: "json_schema" as const, json_schema: MODEL_OUTPUT_JSON_SCHEMA },
    temperature: 0,
    max_tokens: 1024,
  };
}

/**
 * The model's answer as candidates, or null when it is not the agreed JSON at all (the caller then falls
 * back to the local extractor). Individual facts whose data is invalid for their event type are dropped.
 */
export function parseModelExtraction(output: unknown): ExtractedCandidate[] | null {
  let response = (output as { response?: unknown } | null)?.response;
  if (typeof response === "string") {
    try {
      response = JSON.parse(response.replace(/^```(?:json)?\s*|\s*```$/g, ""));
    } catch {
      return null;
    }
  }
  const parsed = ModelOutput.safeParse(response);
  if (!parsed.success) return null;
  const byPath = new Map<string, ExtractedCandidate>();
  for (const fact of parsed.data.facts) {
    const valid = parseEventData(fact.event_type, "patient", fact.data);
    if (!valid.ok || valid.facts.length === 0) continue;
    byPath.set(valid.facts[0]!.path, {
      event_type: fact.event_type,
      data: valid.data as Record<string, FactValue>,
      basis: fact.basis,
    });
  }
  return [...byPath.values()];
}
