/**
 * The demo workspace `npm start` seeds: a clinic with three lines, their numbers, and three users.
 * Ids are fixed so seeding is idempotent (INSERT OR IGNORE): a second `npm start` keeps what you changed.
 * Local use only: these passwords are printed on every start.
 */
export const DEMO_WORKSPACE = { id: "demo", name: "Riverside Family Clinic", timezone: "America/New_York" };

export const DEMO_USERS = [
  {
    id: "usr_demo-owner",
    email: "owner@riverside.example",
    name: "Dana Whitfield",
    role: "owner",
    password: "demo-owner-password",
  },
  {
    id: "usr_demo-operator",
    email: "operator@riverside.example",
    name: "Sam Ortega",
    role: "operator",
    password: "demo-operator-password",
  },
  {
    id: "usr_demo-viewer",
    email: "viewer@riverside.example",
    name: "Priya Nair",
    role: "viewer",
    password: "demo-viewer-password",
  },
] as const;

/**
 * Who takes the demo's escalations: the operator is the nurse (a clinician with triage, so a safety
 * escalation on any line, such as chest pain, and the triage line's own reach them); the owner covers the
 * front desk (administrative: the scheduling and inquiries lines). Both start offline: an operator goes
 * online from the dashboard.
 */
export const DEMO_OPERATORS = [
  { user_id: "usr_demo-operator", type: "clinical", skills: ["triage"] },
  { user_id: "usr_demo-owner", type: "administrative", skills: ["billing", "scheduling"] },
] as const;

export const DEMO_SERVICES = [
  {
    id: "svc_demo-scheduling",
    name: "Scheduling line",
    description: "Books, reschedules and cancels appointments; answers preparation questions.",
    persona: {
      agent_name: "Alex",
      tone: "warm",
      greeting: "Thanks for calling Riverside Family Clinic, this is Alex.",
      language: "en-US",
    },
    context_graph_id: "cg_demo-scheduling-v1",
    escalation_rules: {
      risk_threshold: 0.7,
      keywords: ["billing", "complaint"],
      operator_type: "administrative",
      operator_skill: null,
      fallback: "callback",
      fallback_number: null,
    },
    number: "+14155550100",
  },
  {
    id: "svc_demo-triage",
    name: "Nurse triage line",
    description: "Symptom intake with red-flag screening; escalates to a nurse for clinical judgment.",
    persona: {
      agent_name: "Jordan",
      tone: "professional",
      greeting: "Riverside nurse line, this is Jordan. How can I help?",
      language: "en-US",
    },
    context_graph_id: "cg_demo-triage-v1",
    escalation_rules: {
      risk_threshold: 0.5,
      keywords: ["chest pain", "can't breathe", "suicide"],
      operator_type: "clinical",
      operator_skill: "triage",
      fallback: "forward",
      fallback_number: "+14155550911",
    },
    number: "+14155550101",
  },
  {
    id: "svc_demo-inquiries",
    name: "General inquiries",
    description: "Hours, locations, directions, insurance accepted and other front-desk questions.",
    persona: {
      agent_name: "Riley",
      tone: "warm",
      greeting: "Hi, you've reached Riverside Family Clinic. This is Riley.",
      language: "en-US",
    },
    context_graph_id: "cg_demo-inquiries-v1",
    escalation_rules: {
      risk_threshold: 0.7,
      keywords: [],
      operator_type: "administrative",
      operator_skill: null,
      fallback: "callback",
      fallback_number: null,
    },
    number: "+14155550102",
  },
] as const;

export const DEMO_API_KEY_ID = "key_demo-owner";
