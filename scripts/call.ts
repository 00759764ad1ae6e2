/**
 * `npm run call -- --to <number> --from <number> "utterance" "utterance" …`: a scripted phone call in the
 * terminal, against the running local platform (`npm start`). It starts a simulated call through the API
 * (`POST /v1/{ws}/simulator/calls`, as the demo API key from .dev.vars), opens the call's ConversationRelay
 * socket, sends `setup`, waits for the greeting, then sends each utterance as a `prompt` once the previous
 * reply's last token has arrived, and prints the conversation, each turn's state, risk and tool calls, and
 * how the call ended (the `end` frame's handoff data, or a hang-up after the last utterance).
 *
 * Options: `--to` (a clinic number of the workspace, default the demo scheduling line +14155550100),
 * `--from` (the caller's number) or `--patient <entity id>` (a demo patient: their phone from the world
 * model), `--workspace` (default `demo`), `--base-url` (default http://localhost:8787), `--key` (default
 * DEMO_API_KEY from .dev.vars).
 */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { WebSocket } from "undici";

const ROOT = path.resolve(import.meta.dirname, "..");
const REPLY_TIMEOUT_MS = 15_000;

type Frame = Record<string, unknown> & { type?: unknown };

function fail(message: string): never {
  console.error(`call: ${message}`);
  process.exit(1);
}

/** .dev.vars as `npm start` wrote it; read only (a fresh key here would not match the running platform). */
function devVar(name: string): string | undefined {
  const file = path.join(ROOT, ".dev.vars");
  if (!existsSync(file)) return undefined;
  for (const line of readFileSync(file, "utf8").split("\n")) {
    const match = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (match?.[1] === name) return match[2];
  }
  return undefined;
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    to: { type: "string", default: "+14155550100" },
    from: { type: "string" },
    patient: { type: "string" },
    workspace: { type: "string", default: "demo" },
    "base-url": { type: "string", default: "http://localhost:8787" },
    key: { type: "string" },
    help: { type: "boolean", short: "h" },
  },
});

if (values.help) {
  console.log(
    'Usage: npm run call -- --to <clinic number> (--from <caller number> | --patient <entity id>) "utterance" …',
  );
  process.exit(0);
}
if (!values.from && !values.patient) fail("give the caller: --from <number> or --patient <entity id>");
if (values.from && values.patient) fail("give either --from or --patient, not both");
const apiKey = values.key ?? devVar("DEMO_API_KEY");
if (!apiKey) fail("no API key: pass --key, or run `npm start` once so .dev.vars holds DEMO_API_KEY");
const baseUrl = values["base-url"].replace(/\/+$/, "");
const headers = { Authorization: `Bearer ${apiKey}` };

/** Frames as they arrive, and a way to wait for the next that matches. */
class Inbox {
  readonly #frames: Frame[] = [];
  #cursor = 0;
  #wake: (() => void) | null = null;
  closed = false;

  push(frame: Frame) {
    this.#frames.push(frame);
    this.#wake?.();
  }

  close() {
    this.closed = true;
    this.#wake?.();
  }

  /** The next frame, or null once the socket closed or nothing came in time. */
  async next(timeoutMs = REPLY_TIMEOUT_MS): Promise<Frame | null> {
    const deadline = Date.now() + timeoutMs;
    while (this.#cursor >= this.#frames.length) {
      if (this.closed || Date.now() >= deadline) return null;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        setTimeout(resolve, Math.max(0, deadline - Date.now()));
      });
      this.#wake = null;
    }
    return this.#frames[this.#cursor++]!;
  }
}

function describeDebug(frame: Frame): string {
  const risk = frame.risk as { score: number; level: string } | undefined;
  const tools = (frame.tools as { name: string; outcome: string; latency_ms: number }[] | undefined) ?? [];
  const parts = [
    `state ${String(frame.previous_state_id)} → ${String(frame.state_id)}`,
    risk ? `risk ${risk.level} ${risk.score.toFixed(2)}` : null,
    frame.intent ? `intent ${String(frame.intent)}` : null,
    tools.length > 0
      ? `tools ${tools.map((t) => `${t.name}:${t.outcome} (${t.latency_ms} ms)`).join(", ")}`
      : null,
    frame.escalation ? `escalation ${String(frame.escalation)}` : null,
    frame.identity_verified ? "verified" : null,
  ];
  return parts.filter(Boolean).join(" · ");
}

/** Prints the agent's next reply as its tokens arrive; returns the `end` frame if the call ended with it. */
async function readReply(inbox: Inbox): Promise<{ ended: Frame | null; lastDebug: Frame | null }> {
  let lastDebug: Frame | null = null;
  let started = false;
  for (;;) {
    const frame = await inbox.next();
    if (!frame) {
      if (started) process.stdout.write("\n");
      if (inbox.closed) return { ended: { type: "closed" }, lastDebug };
      fail("no reply from the agent in time");
    }
    if (frame.type === "debug") {
      lastDebug = frame;
      console.log(`  [${describeDebug(frame)}]`);
    } else if (frame.type === "text") {
      if (!started) process.stdout.write("agent:  ");
      started = true;
      process.stdout.write(String(frame.token ?? ""));
      if (frame.last === true) {
        process.stdout.write("\n");
        // An `end` follows the goodbye's last token at once, when the agent ends the call.
        const after = await inbox.next(150);
        return { ended: after?.type === "end" ? after : null, lastDebug };
      }
    } else if (frame.type === "end") {
      return { ended: frame, lastDebug };
    }
  }
}

async function main() {
  const from = values.patient ? { patient_id: values.patient } : values.from!;
  let response: Response;
  try {
    response = await fetch(`${baseUrl}/v1/${encodeURIComponent(values.workspace)}/simulator/calls`, {
      method: "POST",
      headers: { ...headers, "Content-Type": "application/json" },
      body: JSON.stringify({ to: values.to, from }),
    });
  } catch {
    fail(`can't reach ${baseUrl}: is the platform running (npm start)?`);
  }
  const body = (await response.json().catch(() => null)) as
    | { call_id: string; provider_sid: string; socket_url: string; error?: undefined }
    | { error: { code: string; message: string } }
    | null;
  if (!response.ok || !body || body.error) {
    fail(`the API refused the call (${response.status}): ${body?.error?.message ?? "no answer"}`);
  }
  const call = body as { call_id: string; provider_sid: string; socket_url: string };
  console.log(
    `call ${call.call_id}: ${typeof from === "string" ? from : `patient ${from.patient_id}`} → ${values.to}`,
  );

  const inbox = new Inbox();
  const ws = new WebSocket(call.socket_url, { headers });
  ws.addEventListener("message", (event) => {
    try {
      inbox.push(JSON.parse(String(event.data)) as Frame);
    } catch {
      // Not JSON: not a frame of this protocol.
    }
  });
  ws.addEventListener("close", () => inbox.close());
  await new Promise<void>((resolve, reject) => {
    ws.addEventListener("open", () => resolve());
    ws.addEventListener("error", () => reject(new Error("the call's socket did not open")));
  }).catch((err: Error) => fail(err.message));

  ws.send(
    JSON.stringify({
      type: "setup",
      sessionId: `VX${call.call_id}`,
      callSid: call.provider_sid,
      from: typeof from === "string" ? from : "",
      to: values.to,
      direction: "inbound",
      callType: "PSTN",
      customParameters: { call_id: call.call_id },
    }),
  );
  let { ended, lastDebug } = await readReply(inbox);
  for (const utterance of positionals) {
    if (ended) break;
    console.log(`caller: ${utterance}`);
    ws.send(JSON.stringify({ type: "prompt", voicePrompt: utterance, lang: "en-US", last: true }));
    const turn = await readReply(inbox);
    ended = turn.ended;
    lastDebug = turn.lastDebug ?? lastDebug;
  }

  if (ended?.type === "end") {
    console.log(`end: the agent ended the call; handoff ${String(ended.handoffData ?? "{}")}`);
  } else if (ended) {
    console.log("end: the socket closed");
  } else {
    console.log("end: hung up after the last utterance");
    ws.close(1000, "hung up");
  }
  if (lastDebug) console.log(`final state: ${String(lastDebug.state_id)}`);
  console.log(`details: GET ${baseUrl}/v1/${values.workspace}/calls/${call.call_id}`);
  // Give the close frame a moment to leave before the process exits.
  await new Promise((resolve) => setTimeout(resolve, 100));
  process.exit(0);
}

await main();
