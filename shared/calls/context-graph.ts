/**
 * A service's context graph: the states a conversation moves through, what the agent does and may call
 * in each, and how it leaves them. Pure (no bindings): the API validates graphs with it on save and the
 * reasoning engines read its types.
 *
 * Validation is two passes. The zod shape (`ContextGraphShape`) checks types and fills defaults; the
 * structural pass (`validateContextGraph`) checks what a shape cannot: every exit target exists, every
 * state is reachable from an initial state, a terminal state exists and is reachable, terminal states
 * have no exits, tool names are known. Tool names are plain strings in the shape so that one bad graph
 * reports every reason at once (an unknown tool beside an unreachable state), each with its JSON path.
 */
import { z } from "zod";

/** Every tool the agent can call. A graph names only these; the engine maps each to its handler. */
export const TOOL_NAMES = [
  "patient_context",
  "find_slots",
  "book_appointment",
  "reschedule_appointment",
  "cancel_appointment",
  "record_fact",
  "escalate",
  "transfer",
  "end_call",
  "send_sms",
  "record_promise",
  "answer_from_knowledge",
  "verify_identity",
  "create_surface",
  "deliver_surface",
  "check_surface_status",
  "list_surfaces",
] as const;
export type ToolName = (typeof TOOL_NAMES)[number];

export const isToolName = (name: string): name is ToolName =>
  (TOOL_NAMES as readonly string[]).includes(name);

export const STATE_TYPES = ["action", "decision", "data_collection", "annotation", "terminal"] as const;
export type StateType = (typeof STATE_TYPES)[number];

/** What a data_collection field holds, so the engine knows which extractor to run. */
export const FIELD_KINDS = [
  "name",
  "birth_date",
  "phone",
  "date_time",
  "free_text",
  "choice",
  "yes_no",
] as const;
export type FieldKind = (typeof FIELD_KINDS)[number];

/** Emotion tiers in increasing order; a behavior on a tier fires at that tier or above. */
export const EMOTION_TIERS = ["calm", "concerned", "distressed"] as const;
export type EmotionTier = (typeof EMOTION_TIERS)[number];
export const emotionTierRank = (tier: EmotionTier): number => EMOTION_TIERS.indexOf(tier);

/**
 * How a tool call ended, as exits see it: `ok` (did what was asked), `none` (ran, found nothing: no
 * slots, no appointment, no knowledge entry), `error` (failed or refused), `any` (whatever happened).
 */
export const TOOL_OUTCOMES = ["ok", "none", "error", "any"] as const;
export type ToolOutcome = (typeof TOOL_OUTCOMES)[number];

/** What a knowledge entry is about; the API filters on it. */
export const KNOWLEDGE_KINDS = ["hours", "location", "directions", "preparation", "policy", "faq"] as const;
export type KnowledgeKind = (typeof KNOWLEDGE_KINDS)[number];

/**
 * A curated answer of a service (a `knowledge_entries` row as the engine reads it): what the agent may
 * say. `keywords` (lower case) are what a caller's question is matched on; anything no entry answers is
 * out of scope and escalated, never guessed.
 */
export interface KnowledgeEntry {
  id: string;
  kind: KnowledgeKind;
  title: string;
  body: string;
  keywords: string[];
}

export const DEFAULT_MAX_LOOPS = 3;
export const DEFAULT_COOLDOWN_TURNS = 3;

/** State ids, intent names and field names: short lowercase slugs, safe as JSON path segments. */
const Slug = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-z][a-z0-9_]*$/, "lowercase letters, digits and _, starting with a letter");
const Text = z.string().trim().min(1).max(4000);
const ShortText = z.string().trim().min(1).max(500);

export const IntentExamplesShape = z.object({
  name: Slug,
  /** Utterances that mean this intent; the LocalEngine matches the caller's words against them. */
  examples: z.array(ShortText).min(1).max(100),
});
export type IntentExamples = z.output<typeof IntentExamplesShape>;

export const CollectFieldShape = z
  .object({
    name: Slug,
    kind: z.enum(FIELD_KINDS),
    /** What the agent asks to get this field. */
    prompt: ShortText,
    required: z.boolean().default(true),
    /** The accepted answers of a `choice` field. */
    choices: z.array(ShortText).min(1).max(50).optional(),
  })
  .refine((f) => f.kind !== "choice" || (f.choices?.length ?? 0) > 0, {
    message: "a choice field lists its choices",
    path: ["choices"],
  });
export type CollectField = z.output<typeof CollectFieldShape>;

/**
 * When to leave a state, and for which state. The engine tries exits in order and takes the first that
 * holds; when none holds the state asks again, and after `risk.max_loops` tries the call counts as looping.
 * - `intent`: the caller's turn matched this intent (one of the state's `intents`).
 * - `collected`: every required field of the state's `collect` is filled.
 * - `tool`: the named tool returned this outcome (`any` for whatever it returned). Naming a tool here
 *   makes it the state's own: the LocalEngine calls it (see shared/engine/local-engine.ts).
 * - `verified` / `unverified`: identity verification (name + birth date) succeeded / failed.
 * - `default`: otherwise, once the state has nothing left to collect (put it last).
 */
export const ExitConditionShape = z.discriminatedUnion("on", [
  z.object({ on: z.literal("intent"), intent: Slug, to: Slug }),
  z.object({ on: z.literal("collected"), to: Slug }),
  z.object({
    on: z.literal("tool"),
    tool: z.string().min(1).max(64),
    outcome: z.enum(TOOL_OUTCOMES),
    to: Slug,
  }),
  z.object({ on: z.literal("verified"), to: Slug }),
  z.object({ on: z.literal("unverified"), to: Slug }),
  z.object({ on: z.literal("default"), to: Slug }),
]);
/** After validation, `tool` exits name a known tool. */
export type ExitCondition =
  | { on: "intent"; intent: string; to: string }
  | { on: "collected"; to: string }
  | { on: "tool"; tool: ToolName; outcome: ToolOutcome; to: string }
  | { on: "verified"; to: string }
  | { on: "unverified"; to: string }
  | { on: "default"; to: string };

export const RiskOverrideShape = z.object({
  /** Risk (0..1) at or above which this state escalates; the service's threshold when absent. */
  escalate_threshold: z.number().min(0).max(1).optional(),
  /** How many times the state may repeat before the conversation counts as looping. */
  max_loops: z.number().int().min(1).max(20).default(DEFAULT_MAX_LOOPS),
});
export type RiskOverride = z.output<typeof RiskOverrideShape>;

export const GraphStateShape = z.object({
  type: z.enum(STATE_TYPES),
  /** A short label for people reading the graph. */
  title: ShortText.optional(),
  /** What the agent does and says here. */
  instructions: Text,
  intents: z.array(IntentExamplesShape).max(50).default([]),
  collect: z.array(CollectFieldShape).max(30).default([]),
  /** Tools the agent may call here; in a terminal state, `escalate` or `transfer` runs as the call ends. */
  tools: z.array(z.string().min(1).max(64)).max(TOOL_NAMES.length).default([]),
  exits: z.array(ExitConditionShape).max(50).default([]),
  guardrails: z.array(ShortText).max(50).default([]),
  risk: RiskOverrideShape.default({ max_loops: DEFAULT_MAX_LOOPS }),
});
export type GraphState = Omit<z.output<typeof GraphStateShape>, "tools" | "exits"> & {
  tools: ToolName[];
  exits: ExitCondition[];
};

/**
 * A rule layered over the graph. It fires when every trigger kind it names matches (any keyword among
 * `keywords`, any intent among `intents`, the current state among `states`, the emotion tier at or
 * above `emotion_tier`), then stays quiet for `cooldown_turns` turns. Higher `priority` comes first.
 */
export const DynamicBehaviorShape = z
  .object({
    id: Slug,
    description: ShortText.optional(),
    keywords: z.array(ShortText).max(100).optional(),
    intents: z.array(Slug).max(50).optional(),
    states: z.array(Slug).max(100).optional(),
    emotion_tier: z.enum(EMOTION_TIERS).optional(),
    priority: z.number().int().min(0).max(1000).default(0),
    cooldown_turns: z.number().int().min(0).max(100).default(DEFAULT_COOLDOWN_TURNS),
    instructions: Text.optional(),
    tools: z.array(z.string().min(1).max(64)).max(TOOL_NAMES.length).optional(),
  })
  .refine((b) => !!(b.keywords?.length || b.intents?.length || b.states?.length || b.emotion_tier), {
    message: "a behavior fires on at least one of keywords, intents, states or emotion_tier",
  })
  .refine((b) => !!(b.instructions || b.tools?.length), {
    message: "a behavior adds instructions or tools",
  });
export type DynamicBehavior = Omit<z.output<typeof DynamicBehaviorShape>, "tools"> & { tools?: ToolName[] };

export const PersonaShape = z.object({
  /** The name the agent introduces itself with. */
  agent_name: ShortText.optional(),
  /** Who the agent speaks for ("Riverside Family Clinic"). */
  organization: ShortText.optional(),
  tone: ShortText.optional(),
  greeting: ShortText.optional(),
});
export type Persona = z.output<typeof PersonaShape>;

export const ContextGraphShape = z.object({
  name: ShortText,
  description: Text.optional(),
  initial_states: z.object({ new_patient: Slug, returning_patient: Slug }),
  global_guidelines: z.array(ShortText).max(50).default([]),
  persona: PersonaShape.default({}),
  states: z
    .record(Slug, GraphStateShape)
    .refine((s) => Object.keys(s).length > 0, "a graph has at least one state")
    .refine((s) => Object.keys(s).length <= 200, "a graph has at most 200 states"),
  dynamic_behaviors: z.array(DynamicBehaviorShape).max(100).default([]),
});

/** A validated graph, defaults filled. */
export type ContextGraph = Omit<z.output<typeof ContextGraphShape>, "states" | "dynamic_behaviors"> & {
  states: Record<string, GraphState>;
  dynamic_behaviors: DynamicBehavior[];
};
/** What an author writes (defaults may be left out). */
export type ContextGraphInput = z.input<typeof ContextGraphShape>;

/** Why a graph was refused, at a JSON path into it (`$.states.greet.exits[0].to`). */
export interface GraphReason {
  path: string;
  message: string;
}

export type GraphValidation = { ok: true; graph: ContextGraph } | { ok: false; reasons: GraphReason[] };

/** `["states", "greet", "exits", 0, "to"]` → `$.states.greet.exits[0].to`. */
export function jsonPath(segments: readonly PropertyKey[]): string {
  let out = "$";
  for (const s of segments) {
    if (typeof s === "number") out += `[${s}]`;
    else if (typeof s === "string" && /^[A-Za-z_][A-Za-z0-9_]*$/.test(s)) out += `.${s}`;
    else out += `[${JSON.stringify(String(s))}]`;
  }
  return out;
}

/** Parses and checks a graph; on failure returns every reason found, each with its path. */
export function validateContextGraph(input: unknown): GraphValidation {
  const parsed = ContextGraphShape.safeParse(input);
  if (!parsed.success) {
    return {
      ok: false,
      reasons: parsed.error.issues.map((i) => ({ path: jsonPath(i.path), message: i.message })),
    };
  }
  const graph = parsed.data;
  const reasons = structuralReasons(graph);
  return reasons.length ? { ok: false, reasons } : { ok: true, graph: graph as ContextGraph };
}

/** Like validateContextGraph, for callers that hold a graph already saved (and so valid): throws if not. */
export function parseContextGraph(input: unknown): ContextGraph {
  const result = validateContextGraph(input);
  if (!result.ok) {
    throw new Error(
      `invalid context graph: ${result.reasons.map((r) => `${r.path}: ${r.message}`).join("; ")}`,
    );
  }
  return result.graph;
}

type ParsedGraph = z.output<typeof ContextGraphShape>;

function structuralReasons(graph: ParsedGraph): GraphReason[] {
  const reasons: GraphReason[] = [];
  const add = (path: PropertyKey[], message: string) => reasons.push({ path: jsonPath(path), message });
  const ids = new Set(Object.keys(graph.states));

  for (const kind of ["new_patient", "returning_patient"] as const) {
    const target = graph.initial_states[kind];
    if (!ids.has(target)) add(["initial_states", kind], `initial state "${target}" does not exist`);
  }

  for (const [id, state] of Object.entries(graph.states)) {
    const intentNames = new Set<string>();
    state.intents.forEach((intent, i) => {
      if (intentNames.has(intent.name))
        add(["states", id, "intents", i, "name"], `intent "${intent.name}" is listed twice`);
      intentNames.add(intent.name);
    });
    const fieldNames = new Set<string>();
    state.collect.forEach((field, i) => {
      if (fieldNames.has(field.name))
        add(["states", id, "collect", i, "name"], `field "${field.name}" is listed twice`);
      fieldNames.add(field.name);
    });
    if (state.type === "data_collection" && state.collect.length === 0)
      add(["states", id, "collect"], "a data_collection state lists the fields it collects");
    state.tools.forEach((tool, i) => {
      if (!isToolName(tool)) add(["states", id, "tools", i], `unknown tool "${tool}"`);
    });

    if (state.type === "terminal") {
      if (state.exits.length > 0) add(["states", id, "exits"], "a terminal state has no exits");
      continue;
    }
    if (state.exits.length === 0)
      add(["states", id, "exits"], "a non-terminal state needs at least one exit");
    state.exits.forEach((exit, i) => {
      if (!ids.has(exit.to)) add(["states", id, "exits", i, "to"], `exit target "${exit.to}" does not exist`);
      if (exit.on === "intent" && !intentNames.has(exit.intent))
        add(["states", id, "exits", i, "intent"], `intent "${exit.intent}" has no examples in this state`);
      if (exit.on === "collected" && state.collect.length === 0)
        add(["states", id, "exits", i, "on"], "a collected exit needs fields to collect");
      if (exit.on === "tool") {
        if (!isToolName(exit.tool)) add(["states", id, "exits", i, "tool"], `unknown tool "${exit.tool}"`);
        else if (!state.tools.includes(exit.tool))
          add(["states", id, "exits", i, "tool"], `tool "${exit.tool}" is not allowed in this state`);
      }
    });
  }

  const behaviorIds = new Set<string>();
  graph.dynamic_behaviors.forEach((behavior, i) => {
    if (behaviorIds.has(behavior.id))
      add(["dynamic_behaviors", i, "id"], `behavior "${behavior.id}" is listed twice`);
    behaviorIds.add(behavior.id);
    behavior.states?.forEach((s, j) => {
      if (!ids.has(s)) add(["dynamic_behaviors", i, "states", j], `state "${s}" does not exist`);
    });
    behavior.tools?.forEach((tool, j) => {
      if (!isToolName(tool)) add(["dynamic_behaviors", i, "tools", j], `unknown tool "${tool}"`);
    });
  });

  // Reachability over exits from both initial states.
  const reached = new Set<string>();
  const queue = [graph.initial_states.new_patient, graph.initial_states.returning_patient].filter((s) =>
    ids.has(s),
  );
  while (queue.length) {
    const id = queue.pop() as string;
    if (reached.has(id)) continue;
    reached.add(id);
    for (const exit of graph.states[id]?.exits ?? [])
      if (ids.has(exit.to) && !reached.has(exit.to)) queue.push(exit.to);
  }
  for (const id of ids) {
    if (!reached.has(id)) add(["states", id], `state "${id}" is not reachable from an initial state`);
  }
  const terminals = [...ids].filter((id) => graph.states[id]?.type === "terminal");
  if (terminals.length === 0) add(["states"], "a graph needs at least one terminal state");
  else if (!terminals.some((id) => reached.has(id))) add(["states"], "no terminal state is reachable");

  return reasons;
}

/** The exits of a state that the engine may take, in order (empty for terminal states). */
export const stateExits = (graph: ContextGraph, stateId: string): ExitCondition[] =>
  graph.states[stateId]?.exits ?? [];
