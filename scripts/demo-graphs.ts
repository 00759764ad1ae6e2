/**
 * The demo clinic's context graphs (version 1 of each of the three lines) and the knowledge its agents
 * answer from. Ids are fixed so seeding stays idempotent (INSERT OR IGNORE), and each demo service's
 * `context_graph_id` names its version 1. Every graph here passes `validateContextGraph` (a unit test
 * says so). Addresses and hours match the FHIR sandbox's clinic (ehr-sandbox/seed.ts).
 */
import type { ContextGraphInput } from "../shared/calls/context-graph";
import type { KnowledgeKind } from "../shared/schemas/context-graphs";

export const DEMO_SCHEDULING_SERVICE_ID = "svc_demo-scheduling";
export const DEMO_TRIAGE_SERVICE_ID = "svc_demo-triage";
export const DEMO_INQUIRIES_SERVICE_ID = "svc_demo-inquiries";

/** The scheduling line's number, where the inquiries line transfers booking requests. */
const SCHEDULING_LINE = "+14155550100";

const RED_FLAG_KEYWORDS = [
  "chest pain",
  "chest pressure",
  "can't breathe",
  "cannot breathe",
  "trouble breathing",
  "short of breath",
  "stroke",
  "face drooping",
  "slurred speech",
  "bleeding won't stop",
  "severe bleeding",
  "unconscious",
  "passed out",
  "overdose",
  "suicide",
  "kill myself",
  "hurt myself",
  "end my life",
];

const SAFETY_BEHAVIORS: NonNullable<ContextGraphInput["dynamic_behaviors"]> = [
  {
    id: "red_flag_symptoms",
    description: "Crisis language or a red-flag symptom, in any state: escalate at once",
    keywords: RED_FLAG_KEYWORDS,
    priority: 100,
    cooldown_turns: 0,
    instructions:
      "Stop what you were doing. If the caller may be in danger, tell them to hang up and call 911 now (or 988 " +
      "for a mental health crisis), then escalate to a person immediately with the reason.",
    tools: ["escalate"],
  },
  {
    id: "distressed_caller",
    description: "A distressed caller gets empathy and the offer of a person",
    emotion_tier: "distressed",
    priority: 80,
    instructions:
      "Acknowledge how the caller feels in one short sentence, slow down, and offer to connect them with a " +
      "member of staff.",
    tools: ["escalate"],
  },
];

const COMMON_GUIDELINES = [
  "Speak as a member of Riverside Family Clinic's front desk: short sentences, one question at a time.",
  "Never read appointment details or any other health information to a caller whose name and date of birth are not verified.",
  "Never give medical advice or a diagnosis.",
  "Answer facts about the clinic only from the knowledge entries; if the answer is not there, say so and offer a person.",
  "If the caller asks for a person, escalate.",
];

const intent = (name: string, ...examples: string[]) => ({ name, examples });

export const SCHEDULING_GRAPH: ContextGraphInput = {
  name: "Scheduling line",
  description:
    "Books, reschedules and cancels appointments for verified patients; answers preparation questions.",
  initial_states: { new_patient: "greet_new_caller", returning_patient: "greet" },
  global_guidelines: COMMON_GUIDELINES,
  persona: { agent_name: "Alex", organization: "Riverside Family Clinic", tone: "warm" },
  states: {
    greet: {
      type: "action",
      title: "Greeting",
      instructions:
        "Greet the caller, say you can help with appointments, and ask for their full name and date of birth so you can look them up.",
      exits: [{ on: "default", to: "verify_identity" }],
    },
    greet_new_caller: {
      type: "action",
      title: "Greeting (number not on file)",
      instructions:
        "Greet the caller, say you can help with appointments, and ask for their full name and date of birth; someone new to the clinic can say so.",
      exits: [{ on: "default", to: "verify_identity" }],
    },
    verify_identity: {
      type: "data_collection",
      title: "Verify identity",
      instructions:
        "Collect the caller's full name and date of birth and verify them against the patient's record. Share nothing from the record before this succeeds.",
      collect: [
        { name: "full_name", kind: "name", prompt: "Can I have your full name, please?" },
        { name: "birth_date", kind: "birth_date", prompt: "And your date of birth?" },
      ],
      intents: [
        intent(
          "new_patient",
          "I'm a new patient",
          "I've never been there",
          "first time calling",
          "I'd like to become a patient",
        ),
      ],
      tools: ["verify_identity"],
      exits: [
        { on: "intent", intent: "new_patient", to: "new_patient_intake" },
        { on: "verified", to: "identify_need" },
        { on: "unverified", to: "verification_failed" },
      ],
      guardrails: ["Do not say whether a patient with that name exists."],
      risk: { max_loops: 3 },
    },
    verification_failed: {
      type: "decision",
      title: "Identity not verified",
      instructions:
        'Say you could not match those details to a record, without saying which part did not match, and offer a retry or a call back. Say: "Would you like to try again, or shall I have the front desk call you back?"',
      intents: [
        intent("retry", "let me try again", "I'll spell it", "try again", "maybe I said it wrong"),
        intent("callback", "have someone call me", "call me back", "talk to a person", "front desk"),
      ],
      tools: ["escalate", "record_promise"],
      exits: [
        { on: "intent", intent: "retry", to: "verify_identity" },
        { on: "intent", intent: "callback", to: "escalate_to_staff" },
        { on: "default", to: "wrap_up" },
      ],
      guardrails: ["Never read appointment details, diagnoses or medications in this state."],
      risk: { max_loops: 2 },
    },
    identify_need: {
      type: "decision",
      title: "What does the caller need?",
      instructions:
        "Ask how you can help today: booking, rescheduling, cancelling, or a question about a visit. Answer questions from the knowledge entries; one they do not answer goes to staff.",
      intents: [
        intent(
          "book",
          "I need to make an appointment",
          "book an appointment",
          "I'd like to see the doctor",
          "schedule a visit",
          "can I come in next week",
        ),
        intent(
          "reschedule",
          "I need to reschedule",
          "move my appointment",
          "change my appointment",
          "can we do a different day",
          "push my appointment back",
        ),
        intent("cancel", "cancel my appointment", "I can't make it", "I need to cancel", "call off my visit"),
        intent("billing", "question about my bill", "billing", "I was charged", "insurance claim", "invoice"),
        intent(
          "update_details",
          "I have a new insurance card",
          "update my details",
          "send me the form",
          "I moved and need to change my address",
          "update my information",
          "do you need anything from me before my visit",
        ),
        intent("done", "that's all", "no thanks", "nothing else", "bye", "that's it"),
      ],
      tools: ["patient_context", "answer_from_knowledge"],
      exits: [
        { on: "intent", intent: "update_details", to: "send_form" },
        { on: "intent", intent: "book", to: "collect_preferences" },
        { on: "intent", intent: "reschedule", to: "select_appointment" },
        { on: "intent", intent: "cancel", to: "select_appointment_to_cancel" },
        { on: "intent", intent: "billing", to: "escalate_to_staff" },
        { on: "intent", intent: "done", to: "wrap_up" },
      ],
    },
    select_appointment: {
      type: "decision",
      title: "Which appointment to move",
      instructions:
        "Look up the caller's upcoming appointments and ask which one they want to move (read date, time and clinician only).",
      intents: [
        intent(
          "choose",
          "that one",
          "the first one",
          "yes",
          "the one on Tuesday",
          "my appointment with Dr. Reyes",
        ),
      ],
      tools: ["patient_context"],
      exits: [
        { on: "tool", tool: "patient_context", outcome: "none", to: "no_appointment" },
        { on: "intent", intent: "choose", to: "collect_preferences" },
      ],
    },
    select_appointment_to_cancel: {
      type: "decision",
      title: "Which appointment to cancel",
      instructions: "Look up the caller's upcoming appointments and ask which one they want to cancel.",
      intents: [intent("choose", "that one", "the first one", "yes", "the one on Tuesday")],
      tools: ["patient_context"],
      exits: [
        { on: "tool", tool: "patient_context", outcome: "none", to: "no_appointment" },
        { on: "intent", intent: "choose", to: "confirm_cancel" },
      ],
    },
    no_appointment: {
      type: "decision",
      title: "No upcoming appointment",
      instructions: "Say you don't see an upcoming appointment and offer to book one.",
      intents: [
        intent("book", "yes please", "book one", "sure", "let's book"),
        intent("done", "no thanks", "never mind", "that's all"),
      ],
      exits: [
        { on: "intent", intent: "book", to: "collect_preferences" },
        { on: "default", to: "wrap_up" },
      ],
    },
    collect_preferences: {
      type: "data_collection",
      title: "When would suit",
      instructions:
        "Ask when suits the caller (day and time of day), then look for free slots around it, at either office unless they prefer one.",
      collect: [
        {
          name: "preferred_time",
          kind: "date_time",
          prompt: "What day and time would work best for you?",
        },
        {
          name: "location",
          kind: "choice",
          prompt: "Main Street or Harbor View office, or either?",
          required: false,
          choices: ["Main Street", "Harbor View", "either"],
        },
      ],
      tools: ["find_slots"],
      exits: [
        { on: "tool", tool: "find_slots", outcome: "ok", to: "offer_slots" },
        { on: "tool", tool: "find_slots", outcome: "none", to: "no_slots" },
        { on: "tool", tool: "find_slots", outcome: "error", to: "escalate_to_staff" },
      ],
    },
    offer_slots: {
      type: "decision",
      title: "Offer slots",
      instructions:
        "Offer up to three of the slots found (day, time, clinician, office) and ask which one they'd like.",
      intents: [
        intent(
          "accept",
          "the first one",
          "the second one",
          "that works",
          "I'll take it",
          "10 am works",
          "Tuesday is good",
        ),
        intent("none_work", "none of those work", "something later", "anything earlier", "a different day"),
      ],
      exits: [
        { on: "intent", intent: "accept", to: "confirm_booking" },
        { on: "intent", intent: "none_work", to: "collect_preferences" },
      ],
    },
    confirm_booking: {
      type: "decision",
      title: "Confirm and book",
      instructions:
        "Read back the chosen slot and ask the caller to confirm. On yes, book it (or move the appointment being rescheduled to it).",
      intents: [
        intent("confirm", "yes", "that's right", "correct", "please book it", "sounds good"),
        intent("decline", "no", "wait", "actually not that one", "let's pick another"),
      ],
      tools: ["book_appointment", "reschedule_appointment"],
      exits: [
        { on: "tool", tool: "book_appointment", outcome: "ok", to: "booked" },
        { on: "tool", tool: "reschedule_appointment", outcome: "ok", to: "booked" },
        { on: "tool", tool: "book_appointment", outcome: "error", to: "collect_preferences" },
        { on: "tool", tool: "reschedule_appointment", outcome: "error", to: "collect_preferences" },
        { on: "intent", intent: "decline", to: "offer_slots" },
      ],
    },
    no_slots: {
      type: "decision",
      title: "Nothing free",
      instructions:
        "Say nothing is free around that time. Offer another time, or a call back when something opens up.",
      intents: [
        intent("other_time", "what about next week", "another day", "try a different time", "later then"),
        intent("callback", "call me when something opens", "put me on the waitlist", "call me back"),
      ],
      exits: [
        { on: "intent", intent: "other_time", to: "collect_preferences" },
        { on: "intent", intent: "callback", to: "promise_callback" },
        { on: "default", to: "wrap_up" },
      ],
    },
    promise_callback: {
      type: "action",
      title: "Promise a call back",
      instructions:
        "Record the promise to call the caller back when a slot opens up, and say when to expect it.",
      tools: ["record_promise"],
      exits: [{ on: "tool", tool: "record_promise", outcome: "any", to: "wrap_up" }],
    },
    booked: {
      type: "action",
      title: "Booked",
      instructions:
        "Confirm the appointment (day, time, clinician, office address), offer a text confirmation, and mention any preparation the visit needs.",
      tools: ["send_sms", "answer_from_knowledge"],
      exits: [{ on: "default", to: "wrap_up" }],
    },
    confirm_cancel: {
      type: "decision",
      title: "Confirm cancellation",
      instructions: "Read back the appointment and ask the caller to confirm the cancellation.",
      intents: [
        intent("confirm", "yes", "yes cancel it", "that's right", "please cancel"),
        intent("decline", "no", "keep it", "never mind", "don't cancel"),
      ],
      tools: ["cancel_appointment"],
      exits: [
        { on: "tool", tool: "cancel_appointment", outcome: "ok", to: "cancelled" },
        { on: "tool", tool: "cancel_appointment", outcome: "error", to: "escalate_to_staff" },
        { on: "intent", intent: "decline", to: "wrap_up" },
      ],
    },
    cancelled: {
      type: "decision",
      title: "Cancelled",
      instructions:
        "Confirm the cancellation, mention the cancellation policy if it applies, and offer to book another time.",
      intents: [
        intent("rebook", "yes book another", "let's find another time", "sure"),
        intent("done", "no thanks", "that's all"),
      ],
      tools: ["answer_from_knowledge"],
      exits: [
        { on: "intent", intent: "rebook", to: "collect_preferences" },
        { on: "default", to: "wrap_up" },
      ],
    },
    new_patient_intake: {
      type: "data_collection",
      title: "New patient details",
      instructions:
        "Welcome them. Collect their name, date of birth and a call-back number so the front desk can register them.",
      collect: [
        { name: "full_name", kind: "name", prompt: "May I have your full name?" },
        { name: "birth_date", kind: "birth_date", prompt: "Your date of birth?" },
        { name: "callback_phone", kind: "phone", prompt: "And the best number to reach you?" },
      ],
      tools: ["record_fact"],
      exits: [{ on: "collected", to: "new_patient_callback" }],
    },
    new_patient_callback: {
      type: "action",
      title: "Promise a registration call",
      instructions:
        "Explain that the front desk registers new patients and will call back within one business day to book the first visit; record that promise.",
      tools: ["record_promise"],
      exits: [{ on: "tool", tool: "record_promise", outcome: "any", to: "wrap_up" }],
    },
    escalate_to_staff: {
      type: "action",
      title: "Hand over to staff",
      instructions:
        "Tell the caller you'll connect them with a member of staff, and escalate with the reason.",
      tools: ["escalate"],
      exits: [{ on: "tool", tool: "escalate", outcome: "any", to: "handed_off" }],
    },
    send_form: {
      type: "action",
      title: "Text a form for what the record lacks",
      instructions:
        "Make a short form for what the caller's record is missing (contact details, insurance, allergies) and text it to them; if they already have forms open, go through it on the call instead.",
      tools: ["create_surface", "deliver_surface"],
      // The tools named by exits run in this order: make the form, then send it.
      exits: [
        { on: "tool", tool: "create_surface", outcome: "none", to: "collect_insurance_verbally" },
        { on: "tool", tool: "deliver_surface", outcome: "ok", to: "form_sent" },
        { on: "default", to: "wrap_up" },
      ],
    },
    collect_insurance_verbally: {
      type: "data_collection",
      title: "Ask for the new insurance on the call",
      instructions:
        "The caller has forms open already: ask for the new insurance on the call instead, and record it for the team to check.",
      collect: [
        { name: "insurance_payer", kind: "free_text", prompt: "Which insurance company are you with now?" },
        { name: "insurance_member_id", kind: "free_text", prompt: "And what is the member ID on the card?" },
      ],
      tools: ["record_fact"],
      exits: [{ on: "tool", tool: "record_fact", outcome: "any", to: "wrap_up" }],
    },
    form_sent: {
      type: "decision",
      title: "Form on its way",
      instructions:
        "Tell the caller the form is on its way and that they can fill it in now or later; when they say they've done it, check.",
      intents: [
        intent("form_done", "I filled it in", "done", "I've sent it", "I submitted it", "finished"),
        intent("later", "I'll do it later", "later", "not now", "that's all"),
      ],
      tools: ["check_surface_status"],
      exits: [
        { on: "intent", intent: "form_done", to: "check_form" },
        { on: "intent", intent: "later", to: "wrap_up" },
      ],
    },
    check_form: {
      type: "action",
      title: "Check the form",
      instructions: "Check whether the form came through and tell the caller.",
      tools: ["check_surface_status"],
      exits: [{ on: "tool", tool: "check_surface_status", outcome: "any", to: "wrap_up" }],
    },
    wrap_up: {
      type: "decision",
      title: "Wrap up",
      instructions: "Ask if there is anything else; if not, thank the caller and say goodbye.",
      intents: [
        intent("more", "yes", "one more thing", "actually", "I also need"),
        intent("done", "no", "that's all", "thanks bye", "nothing else"),
      ],
      tools: ["end_call"],
      exits: [
        { on: "intent", intent: "more", to: "identify_need" },
        { on: "default", to: "end" },
      ],
    },
    handed_off: {
      type: "terminal",
      title: "Handed off",
      instructions: 'Say: "I\'m connecting you with a member of our staff now. Please stay on the line."',
    },
    end: { type: "terminal", title: "Call ended", instructions: "Say goodbye and end the call." },
  },
  dynamic_behaviors: [
    ...SAFETY_BEHAVIORS,
    {
      id: "billing_out_of_scope",
      description: "Billing is outside this line",
      keywords: ["bill", "billing", "invoice", "charged", "payment plan", "balance", "copay"],
      priority: 50,
      instructions:
        "Billing questions are handled by the billing office: say so and escalate with the reason.",
      tools: ["escalate"],
    },
    {
      id: "preparation_help",
      description: "Preparation questions while booking",
      keywords: ["prepare", "preparation", "fasting", "fast", "colonoscopy", "bring"],
      states: ["collect_preferences", "offer_slots", "confirm_booking", "booked"],
      priority: 10,
      instructions:
        "Answer the preparation question from the knowledge entries, then carry on where you were.",
      tools: ["answer_from_knowledge"],
    },
  ],
};

export const TRIAGE_GRAPH: ContextGraphInput = {
  name: "Nurse triage line",
  description: "Red-flag screening first, then symptom intake and a warm handoff to a nurse.",
  initial_states: { new_patient: "greet", returning_patient: "greet" },
  global_guidelines: [
    ...COMMON_GUIDELINES,
    "You are not a nurse: gather information and hand over; never tell the caller a symptom is nothing to worry about.",
  ],
  persona: { agent_name: "Jordan", organization: "Riverside Family Clinic", tone: "professional" },
  states: {
    greet: {
      type: "action",
      title: "Greeting",
      instructions:
        'Introduce the nurse line and the 911 advice. Say: "Riverside nurse line, this is Jordan. If this is a medical emergency, please hang up and call 911."',
      exits: [{ on: "default", to: "red_flag_screen" }],
    },
    red_flag_screen: {
      type: "decision",
      title: "Red-flag screen",
      instructions:
        'Screen for red flags before anything else. Say: "First, do you have chest pain or pressure, trouble breathing, signs of a stroke such as face drooping or slurred speech, bleeding that won\'t stop, or thoughts of harming yourself?"',
      intents: [
        intent(
          "red_flag",
          "I have chest pain",
          "my chest feels tight",
          "I can't breathe",
          "my face is drooping",
          "the bleeding won't stop",
          "I want to hurt myself",
          "he passed out",
        ),
        intent(
          "no_red_flag",
          "no",
          "none of those",
          "no, nothing like that",
          "it's not that serious",
          "just a fever",
          "just a rash",
        ),
      ],
      tools: ["escalate"],
      exits: [
        { on: "intent", intent: "red_flag", to: "emergency_escalation" },
        { on: "intent", intent: "no_red_flag", to: "verify_identity" },
      ],
      risk: { escalate_threshold: 0.5, max_loops: 2 },
    },
    emergency_escalation: {
      type: "action",
      title: "Emergency",
      instructions:
        "Tell the caller to hang up and call 911 now if they are in danger (988 for a mental health crisis), and escalate to the on-call nurse immediately with the red flag named.",
      tools: ["escalate"],
      exits: [{ on: "tool", tool: "escalate", outcome: "any", to: "emergency_handoff" }],
      guardrails: ["Do not ask further questions before escalating."],
    },
    verify_identity: {
      type: "data_collection",
      title: "Who is calling",
      instructions: "Collect the caller's full name and date of birth so the nurse has the right chart.",
      collect: [
        { name: "full_name", kind: "name", prompt: "Can I have the patient's full name?" },
        { name: "birth_date", kind: "birth_date", prompt: "And their date of birth?" },
      ],
      tools: ["verify_identity"],
      exits: [
        { on: "verified", to: "collect_symptoms" },
        { on: "unverified", to: "collect_symptoms" },
      ],
      guardrails: ["Whether or not identity is verified, do not read anything from the chart to the caller."],
    },
    collect_symptoms: {
      type: "data_collection",
      title: "Symptoms",
      instructions:
        "Ask about the main symptom, when it started and how severe it is. Record what the caller says.",
      collect: [
        { name: "main_symptom", kind: "free_text", prompt: "What is the main symptom?" },
        { name: "onset", kind: "date_time", prompt: "When did it start?" },
        {
          name: "severity",
          kind: "choice",
          prompt: "Would you say it is mild, moderate or severe?",
          choices: ["mild", "moderate", "severe"],
        },
      ],
      tools: ["record_fact"],
      exits: [{ on: "collected", to: "nurse_handoff" }],
      risk: { escalate_threshold: 0.5, max_loops: 3 },
    },
    nurse_handoff: {
      type: "action",
      title: "Hand over to a nurse",
      instructions:
        "Summarise the symptoms for the nurse and escalate with that summary. If no nurse is free, promise a nurse call back within 30 minutes.",
      tools: ["escalate", "record_promise"],
      exits: [
        { on: "tool", tool: "escalate", outcome: "ok", to: "nurse_connected" },
        { on: "tool", tool: "escalate", outcome: "none", to: "nurse_callback" },
        { on: "tool", tool: "escalate", outcome: "error", to: "nurse_callback" },
      ],
    },
    nurse_callback: {
      type: "action",
      title: "Nurse will call back",
      instructions:
        "Record the promise of a nurse call back within 30 minutes, confirm the number, and remind them to call 911 if it gets worse.",
      tools: ["record_promise", "end_call"],
      exits: [{ on: "tool", tool: "record_promise", outcome: "any", to: "end" }],
    },
    emergency_handoff: {
      type: "terminal",
      title: "Emergency handoff",
      instructions: "The on-call nurse has the call.",
    },
    nurse_connected: { type: "terminal", title: "Nurse connected", instructions: "A nurse has the call." },
    end: { type: "terminal", title: "Call ended", instructions: "Say goodbye and end the call." },
  },
  dynamic_behaviors: [...SAFETY_BEHAVIORS],
};

export const INQUIRIES_GRAPH: ContextGraphInput = {
  name: "General inquiries",
  description:
    "Hours, locations, directions and visit preparation from the knowledge entries; everything else to a person.",
  initial_states: { new_patient: "questions", returning_patient: "questions" },
  global_guidelines: COMMON_GUIDELINES,
  persona: { agent_name: "Riley", organization: "Riverside Family Clinic", tone: "warm" },
  states: {
    questions: {
      type: "decision",
      title: "Questions",
      instructions:
        "Answer the caller's questions (hours, locations, directions, preparation, policies) from the knowledge entries only, briefly, then ask if there is anything else. A question no entry answers is not guessed at: it goes to the front desk.",
      intents: [
        intent(
          "billing",
          "question about my bill",
          "I was charged twice",
          "billing question",
          "my insurance claim was denied",
          "how much do I owe",
        ),
        intent(
          "scheduling",
          "I need an appointment",
          "book an appointment",
          "reschedule my appointment",
          "cancel my appointment",
        ),
        intent("done", "no", "that's all", "no thanks", "thanks bye", "nothing else", "that's everything"),
      ],
      tools: ["answer_from_knowledge"],
      exits: [
        { on: "intent", intent: "billing", to: "out_of_scope" },
        { on: "intent", intent: "scheduling", to: "transfer_to_scheduling" },
        { on: "intent", intent: "done", to: "end" },
      ],
      guardrails: ["Never make up hours, addresses, prices or instructions."],
    },
    out_of_scope: {
      type: "action",
      title: "Out of scope",
      instructions:
        "Say that this is not something you can answer on this line, and escalate to the front desk with the question as the reason.",
      tools: ["escalate"],
      exits: [{ on: "tool", tool: "escalate", outcome: "any", to: "handed_off" }],
    },
    transfer_to_scheduling: {
      type: "terminal",
      title: "Transfer to scheduling",
      instructions: `Tell the caller you're transferring them to the scheduling line (${SCHEDULING_LINE}), then transfer after the goodbye.`,
      tools: ["transfer"],
    },
    handed_off: {
      type: "terminal",
      title: "Handed off",
      instructions: 'Say: "I\'m connecting you with our front desk now. Please stay on the line."',
    },
    end: { type: "terminal", title: "Call ended", instructions: "Thank the caller and say goodbye." },
  },
  dynamic_behaviors: [...SAFETY_BEHAVIORS],
};

export interface DemoGraph {
  id: string;
  serviceId: string;
  version: number;
  note: string;
  graph: ContextGraphInput;
}

/** Version 1 of each demo line's graph; DEMO_SERVICES' `context_graph_id` names these ids. */
export const DEMO_GRAPHS: readonly DemoGraph[] = [
  {
    id: "cg_demo-scheduling-v1",
    serviceId: DEMO_SCHEDULING_SERVICE_ID,
    version: 1,
    note: "Demo: scheduling line",
    graph: SCHEDULING_GRAPH,
  },
  {
    id: "cg_demo-triage-v1",
    serviceId: DEMO_TRIAGE_SERVICE_ID,
    version: 1,
    note: "Demo: nurse triage line",
    graph: TRIAGE_GRAPH,
  },
  {
    id: "cg_demo-inquiries-v1",
    serviceId: DEMO_INQUIRIES_SERVICE_ID,
    version: 1,
    note: "Demo: general inquiries",
    graph: INQUIRIES_GRAPH,
  },
];

export interface DemoKnowledge {
  /** Stable per entry; each service's copy gets `kn_demo-<service>-<slug>`. */
  slug: string;
  kind: KnowledgeKind;
  title: string;
  body: string;
  keywords: string[];
  services: readonly string[];
}

const ALL_LINES = [DEMO_SCHEDULING_SERVICE_ID, DEMO_TRIAGE_SERVICE_ID, DEMO_INQUIRIES_SERVICE_ID];
const FRONT_DESK = [DEMO_SCHEDULING_SERVICE_ID, DEMO_INQUIRIES_SERVICE_ID];

export const DEMO_KNOWLEDGE: readonly DemoKnowledge[] = [
  {
    slug: "hours",
    kind: "hours",
    title: "Opening hours",
    body:
      "Both offices are open Monday to Friday, 9 a.m. to noon and 1 p.m. to 5 p.m. (closed for lunch from noon to 1). " +
      "They are closed on weekends and public holidays. Outside these hours, call 911 for an emergency.",
    keywords: [
      "hours",
      "open",
      "opening",
      "close",
      "closing",
      "weekend",
      "saturday",
      "sunday",
      "lunch",
      "holiday",
    ],
    services: ALL_LINES,
  },
  {
    slug: "location-main",
    kind: "location",
    title: "Main Street office",
    body: "The Main Street office is at 120 Main St, New York, NY 10024. Dr. Okafor sees patients there.",
    keywords: ["address", "location", "where", "main street", "new york", "office"],
    services: ALL_LINES,
  },
  {
    slug: "location-harbor",
    kind: "location",
    title: "Harbor View office",
    body: "The Harbor View office is at 45 Harbor Blvd, Jersey City, NJ 07302. Dr. Reyes and Jordan Chen, NP, see patients there.",
    keywords: ["address", "location", "where", "harbor view", "harbor", "jersey city", "office"],
    services: ALL_LINES,
  },
  {
    slug: "directions-main",
    kind: "directions",
    title: "Getting to the Main Street office",
    body:
      "The Main Street office is on the ground floor, with a step-free entrance. There is metered street parking " +
      "nearby; public transit is the easiest way to get there. Please arrive 10 minutes early to check in.",
    keywords: [
      "directions",
      "parking",
      "park",
      "train",
      "subway",
      "bus",
      "get there",
      "main street",
      "wheelchair",
    ],
    services: FRONT_DESK,
  },
  {
    slug: "directions-harbor",
    kind: "directions",
    title: "Getting to the Harbor View office",
    body:
      "The Harbor View office has free patient parking behind the building and a step-free entrance. Please arrive " +
      "10 minutes early to check in.",
    keywords: [
      "directions",
      "parking",
      "park",
      "train",
      "bus",
      "get there",
      "harbor view",
      "harbor",
      "wheelchair",
    ],
    services: FRONT_DESK,
  },
  {
    slug: "prep-colonoscopy",
    kind: "preparation",
    title: "Preparing for a colonoscopy",
    body:
      "Three days before: eat low-fibre foods (no nuts, seeds, raw vegetables or whole grains). The day before: clear " +
      "liquids only (water, clear broth, apple juice, plain tea or coffee without milk; nothing red or purple) and take " +
      "the bowel preparation exactly as prescribed. Stop all liquids 2 hours before the procedure. You will be sedated, " +
      "so arrange for an adult to drive you home. Ask your clinician before stopping any regular medication.",
    keywords: [
      "colonoscopy",
      "prep",
      "preparation",
      "prepare",
      "bowel",
      "clear liquids",
      "laxative",
      "fasting",
      "eat",
    ],
    services: FRONT_DESK,
  },
  {
    slug: "prep-fasting-blood-test",
    kind: "preparation",
    title: "Preparing for a fasting blood test",
    body:
      "Do not eat or drink anything except water for 8 to 12 hours before the test (an overnight fast is easiest, with " +
      "a morning appointment). Drinking water is fine and makes the draw easier. Take your usual medications unless " +
      "your clinician told you otherwise, and bring a snack for afterwards.",
    keywords: [
      "blood test",
      "fasting",
      "fast",
      "lab",
      "blood work",
      "cholesterol",
      "glucose",
      "eat",
      "drink",
      "water",
    ],
    services: FRONT_DESK,
  },
  {
    slug: "policy-cancellation",
    kind: "policy",
    title: "Cancellation policy",
    body:
      "Please cancel or reschedule at least 24 hours before your appointment. Appointments missed or cancelled with less " +
      "than 24 hours' notice may be charged a $25 late-cancellation fee. You can cancel or reschedule by calling the " +
      "scheduling line at any time.",
    keywords: ["cancel", "cancellation", "policy", "fee", "no show", "late", "24 hours", "reschedule"],
    services: FRONT_DESK,
  },
  {
    slug: "faq-insurance",
    kind: "faq",
    title: "Insurance accepted",
    body:
      "The clinic accepts Aetna, Blue Cross Blue Shield, Cigna, UnitedHealthcare, Humana and Medicare. Please bring " +
      "your insurance card and a photo ID to every visit. For questions about a bill or a claim, the billing office " +
      "will help.",
    keywords: [
      "insurance",
      "accept",
      "aetna",
      "blue cross",
      "cigna",
      "unitedhealthcare",
      "humana",
      "medicare",
      "card",
    ],
    services: FRONT_DESK,
  },
  {
    slug: "faq-what-to-bring",
    kind: "faq",
    title: "What to bring to a visit",
    body: "Bring a photo ID, your insurance card, a list of the medications you take, and any forms you were sent.",
    keywords: ["bring", "what to bring", "id", "documents", "forms", "medication list"],
    services: FRONT_DESK,
  },
];

/** One row per (entry, service) it belongs to, with a stable id. */
export function demoKnowledgeRows(): {
  id: string;
  serviceId: string;
  kind: KnowledgeKind;
  title: string;
  body: string;
  keywords: string[];
}[] {
  return DEMO_KNOWLEDGE.flatMap((entry) =>
    entry.services.map((serviceId) => ({
      id: `kn_${serviceId.replace(/^svc_/, "")}-${entry.slug}`,
      serviceId,
      kind: entry.kind,
      title: entry.title,
      body: entry.body,
      keywords: entry.keywords,
    })),
  );
}
