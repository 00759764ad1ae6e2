/**
 * A fake Workers AI binding for the chat model: `run(model, inputs)` checks the request the way the real
 * API takes it (a function-calling model; `messages` of system/user/assistant/tool roles with string
 * content; tools in the traditional shape, `{ name, description, parameters: { type: "object",
 * properties, required } }`, each property a typed, described JSON-schema value; no unknown top-level
 * fields), records it, and answers the next scripted response. A request the real API would refuse
 * throws, like the binding, and is listed in `violations` so a test sees it even when the engine falls
 * back. `run` plugs into the speech fake's `other(model, inputs)` hook.
 */

/** The text-generation models of Workers AI that support function calling, as far as these tests go. */
export const FUNCTION_CALLING_MODELS = [
  "@cf/meta/llama-3.3-70b-instruct-fp8-fast",
  "@hf/nousresearch/hermes-2-pro-mistral-7b",
  "@cf/meta/llama-4-scout-17b-16e-instruct",
  "@cf/mistralai/mistral-small-3.1-24b-instruct",
];

const TOP_LEVEL = new Set([
  "messages",
  "tools",
  "functions",
  "response_format",
  "raw",
  "stream",
  "max_tokens",
  "temperature",
  "top_p",
  "top_k",
  "seed",
  "repetition_penalty",
  "frequency_penalty",
  "presence_penalty",
]);
const ROLES = new Set(["system", "user", "assistant", "tool"]);
const JSON_TYPES = new Set(["string", "number", "integer", "boolean", "object", "array"]);

export interface ScriptedReply {
  response?: string;
  tool_calls?: { name: string; arguments: Record<string, unknown> | string }[];
}

/** A scripted answer: a reply, an error to throw, a promise that never settles, or a function of the request. */
export type Script =
  | ScriptedReply
  | Error
  | "hang"
  | ((inputs: ChatInputs) => ScriptedReply | Error | "hang");

export interface ChatInputs {
  messages: { role: string; content: string }[];
  tools?: {
    name: string;
    description: string;
    parameters: {
      type: string;
      properties: Record<string, { type: string; description: string; enum?: string[] }>;
      required?: string[];
    };
  }[];
  [key: string]: unknown;
}

export interface FakeAiChat {
  /** Typed as the binding the engines take. */
  ai: Pick<Ai, "run">;
  run(model: string, inputs: unknown): Promise<unknown>;
  requests: { model: string; inputs: ChatInputs }[];
  violations: string[];
  /** The system prompt of request `i` (default: the last). */
  system(i?: number): string;
  /** Tool names offered in request `i` (default: the last). */
  toolNames(i?: number): string[];
}

/** Every reason the real API would refuse `inputs` for `model`; empty when it is well formed. */
export function chatRequestProblems(model: string, inputs: unknown): string[] {
  const problems: string[] = [];
  if (!FUNCTION_CALLING_MODELS.includes(model)) problems.push(`model ${model} does not do function calling`);
  if (typeof inputs !== "object" || inputs === null) return [...problems, "inputs is not an object"];
  const body = inputs as Record<string, unknown>;
  for (const key of Object.keys(body)) if (!TOP_LEVEL.has(key)) problems.push(`unknown field ${key}`);
  if ("prompt" in body) problems.push("prompt and messages are exclusive");
  if (!Array.isArray(body.messages) || body.messages.length === 0) problems.push("messages is empty");
  else
    body.messages.forEach((m: unknown, i) => {
      if (typeof m !== "object" || m === null) {
        problems.push(`messages[${i}] is not an object`);
        return;
      }
      const msg = m as Record<string, unknown>;
      for (const key of Object.keys(msg))
        if (key !== "role" && key !== "content") problems.push(`messages[${i}].${key} is unknown`);
      if (typeof msg.role !== "string" || !ROLES.has(msg.role))
        problems.push(`messages[${i}].role is invalid`);
      if (typeof msg.content !== "string" || msg.content.length === 0)
        problems.push(`messages[${i}].content is not a non-empty string`);
    });
  if (body.tools !== undefined) {
    if (!Array.isArray(body.tools) || body.tools.length === 0)
      problems.push("tools is not a non-empty array");
    else {
      const names = new Set<string>();
      body.tools.forEach((raw: unknown, i) => {
        const tool = raw as Record<string, unknown>;
        const at = `tools[${i}]`;
        if (typeof tool.name !== "string" || !/^[A-Za-z0-9_-]{1,64}$/.test(tool.name))
          problems.push(`${at}.name is invalid`);
        else if (names.has(tool.name)) problems.push(`${at}.name ${tool.name} is offered twice`);
        else names.add(tool.name);
        if (typeof tool.description !== "string" || !tool.description)
          problems.push(`${at}.description is missing`);
        const params = tool.parameters as Record<string, unknown> | undefined;
        if (params?.type !== "object") {
          problems.push(`${at}.parameters.type is not "object"`);
          return;
        }
        const props = params.properties as Record<string, Record<string, unknown>> | undefined;
        if (!props || typeof props !== "object") {
          problems.push(`${at}.parameters.properties is missing`);
          return;
        }
        for (const [key, p] of Object.entries(props)) {
          if (typeof p.type !== "string" || !JSON_TYPES.has(p.type))
            problems.push(`${at}.${key}.type is invalid`);
          if (typeof p.description !== "string" || !p.description)
            problems.push(`${at}.${key}.description is missing`);
          if (p.enum !== undefined && (!Array.isArray(p.enum) || p.enum.length === 0))
            problems.push(`${at}.${key}.enum is empty`);
        }
        const required = params.required;
        if (required !== undefined) {
          if (!Array.isArray(required)) problems.push(`${at}.parameters.required is not an array`);
          else
            for (const r of required)
              if (typeof r !== "string" || !(r in props))
                problems.push(`${at} requires undeclared ${String(r)}`);
        }
      });
    }
  }
  for (const key of ["max_tokens", "temperature", "top_p", "top_k", "seed"] as const)
    if (body[key] !== undefined && typeof body[key] !== "number") problems.push(`${key} is not a number`);
  return problems;
}

export function fakeAiChat(script: Script[] = []): FakeAiChat {
  const queue = [...script];
  const requests: FakeAiChat["requests"] = [];
  const violations: string[] = [];
  const run = async (model: string, inputs: unknown): Promise<unknown> => {
    const problems = chatRequestProblems(model, inputs);
    if (problems.length) {
      violations.push(...problems);
      throw new Error(`AiError: invalid request: ${problems.join("; ")}`);
    }
    const chat = structuredClone(inputs) as ChatInputs;
    requests.push({ model, inputs: chat });
    let next = queue.shift();
    if (next === undefined) throw new Error("fake AI: no scripted response left");
    if (typeof next === "function") next = next(chat);
    if (next === "hang") return new Promise(() => {});
    if (next instanceof Error) throw next;
    return { response: next.response ?? "", tool_calls: next.tool_calls ?? [], usage: { total_tokens: 1 } };
  };
  const at = (i?: number) => requests.at(i ?? -1)?.inputs;
  return {
    ai: { run } as unknown as Pick<Ai, "run">,
    run,
    requests,
    violations,
    system: (i) => at(i)?.messages.find((m) => m.role === "system")?.content ?? "",
    toolNames: (i) => at(i)?.tools?.map((t) => t.name) ?? [],
  };
}
