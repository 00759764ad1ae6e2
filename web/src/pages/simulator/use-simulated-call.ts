/**
 * One simulated call, driven from the browser over the ConversationRelay protocol exactly as Twilio
 * speaks it: `setup` when the socket opens, a `prompt` (with `last: true`) per typed utterance, and
 * `interrupt` with what the caller had "heard" of the agent's reply. The agent answers with `text`
 * tokens, `debug` frames (the simulator's only: state, risk, tool outcomes) and `end`.
 *
 * The simulator "plays" each reply at a speaking pace (one word per {@link WORD_MS}), so the interrupt
 * button has something honest to cut: the words played so far are what the caller heard.
 */
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { api, workspacePath } from "../../api";

export const WORD_MS = 220;

export interface SimulatorCallStart {
  call_id: string;
  provider_sid: string;
  service_id: string;
  socket_url: string;
  socket_path: string;
  expires_at: string;
}

export interface ToolRun {
  name: string;
  outcome: string;
  latency_ms: number;
}

/** The `debug` frame the session sends to the simulator after each turn: ids, codes and numbers. */
export interface DebugFrame {
  state_id: string;
  previous_state_id: string;
  intent: string | null;
  risk: { score: number; level: string };
  tools: ToolRun[];
  escalation: string | null;
  identity_verified: boolean;
  patient_known: boolean;
  ending: string | null;
}

export interface Bubble {
  id: number;
  speaker: "caller" | "agent";
  text: string;
  /** Agent turns: tokens still arriving. */
  streaming: boolean;
  /** Agent turns: words played so far (all of them once played out). */
  heardWords: number;
  interrupted: boolean;
}

export interface ToolLogEntry extends ToolRun {
  turn: number;
  state_id: string;
}

export type CallPhase = "idle" | "starting" | "connecting" | "live" | "ended";

export interface CallEnding {
  /** Who ended it: the agent (an `end` frame), the person (hung up) or the connection. */
  by: "agent" | "caller" | "connection";
  reason: string | null;
  /** A transfer's destination, from the handoff data. */
  to: string | null;
}

export interface SimulatedCall {
  phase: CallPhase;
  callId: string | null;
  bubbles: Bubble[];
  debug: DebugFrame | null;
  tools: ToolLogEntry[];
  turns: number;
  ending: CallEnding | null;
  error: unknown;
  /** The agent's reply is still arriving or being "played": an interrupt would cut it. */
  agentSpeaking: boolean;
  start(to: string, from: string | { patient_id: string }, callerNumber: string | null): Promise<void>;
  say(text: string): void;
  interrupt(): void;
  hangUp(): void;
  reset(): void;
}

const words = (text: string) => text.match(/\S+\s*/g) ?? [];

function parseHandoff(data: unknown): { reason: string | null; to: string | null } {
  if (typeof data !== "string") return { reason: null, to: null };
  try {
    const parsed = JSON.parse(data) as { reason?: unknown; reason_code?: unknown; to?: unknown };
    const reason = typeof parsed.reason === "string" ? parsed.reason : null;
    const code = typeof parsed.reason_code === "string" ? parsed.reason_code : null;
    return {
      reason: code ? `${reason ?? "escalation"}: ${code}` : reason,
      to: typeof parsed.to === "string" ? parsed.to : null,
    };
  } catch {
    return { reason: null, to: null };
  }
}

export function useSimulatedCall(workspaceId: string): SimulatedCall {
  const [phase, setPhase] = useState<CallPhase>("idle");
  const [callId, setCallId] = useState<string | null>(null);
  const [bubbles, setBubbles] = useState<Bubble[]>([]);
  const [debug, setDebug] = useState<DebugFrame | null>(null);
  const [tools, setTools] = useState<ToolLogEntry[]>([]);
  const [turns, setTurns] = useState(0);
  const [ending, setEnding] = useState<CallEnding | null>(null);
  const [error, setError] = useState<unknown>(null);
  const socket = useRef<WebSocket | null>(null);
  const nextId = useRef(1);
  const playback = useRef<{ timer: number; startedAt: number } | null>(null);
  const endedRef = useRef(false);

  const stopPlayback = useCallback(() => {
    if (playback.current) window.clearInterval(playback.current.timer);
    playback.current = null;
  }, []);

  /** Plays the last agent bubble word by word, so an interrupt knows what was heard. */
  const play = useCallback(() => {
    stopPlayback();
    const timer = window.setInterval(() => {
      setBubbles((list) => {
        const last = list.at(-1);
        if (last?.speaker !== "agent" || last.interrupted) {
          stopPlayback();
          return list;
        }
        const total = words(last.text).length;
        if (last.heardWords >= total) {
          if (!last.streaming) stopPlayback();
          return list;
        }
        return [...list.slice(0, -1), { ...last, heardWords: last.heardWords + 1 }];
      });
    }, WORD_MS);
    playback.current = { timer, startedAt: Date.now() };
  }, [stopPlayback]);

  const finish = useCallback((next: CallEnding) => {
    if (endedRef.current) return;
    endedRef.current = true;
    setEnding(next);
    setPhase("ended");
    const ws = socket.current;
    socket.current = null;
    if (ws && ws.readyState <= WebSocket.OPEN) ws.close(1000, "call ended");
  }, []);

  const onFrame = useCallback(
    (frame: Record<string, unknown>) => {
      switch (frame.type) {
        case "text": {
          const token = typeof frame.token === "string" ? frame.token : "";
          const last = frame.last === true;
          setBubbles((list) => {
            const current = list.at(-1);
            if (current?.speaker === "agent" && current.streaming) {
              return [...list.slice(0, -1), { ...current, text: current.text + token, streaming: !last }];
            }
            const id = nextId.current++;
            return [
              ...list,
              { id, speaker: "agent", text: token, streaming: !last, heardWords: 0, interrupted: false },
            ];
          });
          if (!playback.current) play();
          return;
        }
        case "debug": {
          const frameData = frame as unknown as DebugFrame;
          setDebug(frameData);
          setTurns((t) => {
            const turn = t + 1;
            if (frameData.tools.length > 0)
              setTools((log) => [
                ...log,
                ...frameData.tools.map((tool) => ({ ...tool, turn, state_id: frameData.state_id })),
              ]);
            return turn;
          });
          return;
        }
        case "end": {
          const handoff = parseHandoff(frame.handoffData);
          // Let the goodbye play out before the call shows as ended.
          window.setTimeout(() => finish({ by: "agent", ...handoff }), 0);
          return;
        }
      }
    },
    [finish, play],
  );

  const start = useCallback(
    async (to: string, from: string | { patient_id: string }, callerNumber: string | null) => {
      setPhase("starting");
      setError(null);
      setBubbles([]);
      setDebug(null);
      setTools([]);
      setTurns(0);
      setEnding(null);
      endedRef.current = false;
      let call: SimulatorCallStart;
      try {
        call = await api.post<SimulatorCallStart>(workspacePath(workspaceId, "simulator", "calls"), {
          to,
          from,
        });
      } catch (err) {
        setError(err);
        setPhase("idle");
        return;
      }
      setCallId(call.call_id);
      setPhase("connecting");
      // Same origin as the page: the session cookie authenticates the upgrade, the token names the call.
      const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
      const ws = new WebSocket(`${scheme}//${window.location.host}${call.socket_path}`);
      socket.current = ws;
      ws.addEventListener("open", () => {
        setPhase("live");
        ws.send(
          JSON.stringify({
            type: "setup",
            sessionId: `VX${call.call_id}`,
            callSid: call.provider_sid,
            from: callerNumber ?? "",
            to,
            direction: "inbound",
            callType: "PSTN",
            customParameters: { call_id: call.call_id },
          }),
        );
      });
      ws.addEventListener("message", (event) => {
        try {
          onFrame(JSON.parse(String(event.data)) as Record<string, unknown>);
        } catch {
          // Not a frame this page knows; the call goes on.
        }
      });
      ws.addEventListener("close", () => {
        if (socket.current === ws) finish({ by: "connection", reason: null, to: null });
      });
    },
    [workspaceId, onFrame, finish],
  );

  const say = useCallback(
    (text: string) => {
      const ws = socket.current;
      const utterance = text.trim();
      if (!ws || ws.readyState !== WebSocket.OPEN || !utterance) return;
      stopPlayback();
      setBubbles((list) => {
        // Whatever was still playing counts as heard once the caller speaks after it.
        const done = list.map((b) =>
          b.speaker === "agent" && !b.interrupted ? { ...b, heardWords: words(b.text).length } : b,
        );
        return [
          ...done,
          {
            id: nextId.current++,
            speaker: "caller",
            text: utterance,
            streaming: false,
            heardWords: 0,
            interrupted: false,
          },
        ];
      });
      ws.send(JSON.stringify({ type: "prompt", voicePrompt: utterance, lang: "en-US", last: true }));
    },
    [stopPlayback],
  );

  const interrupt = useCallback(() => {
    const ws = socket.current;
    const last = bubbles.at(-1);
    if (!ws || ws.readyState !== WebSocket.OPEN || last?.speaker !== "agent") return;
    const startedAt = playback.current?.startedAt ?? Date.now();
    stopPlayback();
    const heard = words(last.text).slice(0, last.heardWords).join("").trim();
    ws.send(
      JSON.stringify({
        type: "interrupt",
        utteranceUntilInterrupt: heard,
        durationUntilInterruptMs: Date.now() - startedAt,
      }),
    );
    setBubbles((list) =>
      list.map((b) => (b.id === last.id ? { ...b, streaming: false, interrupted: true } : b)),
    );
  }, [bubbles, stopPlayback]);

  const hangUp = useCallback(() => finish({ by: "caller", reason: "hangup", to: null }), [finish]);

  const reset = useCallback(() => {
    stopPlayback();
    setPhase("idle");
    setCallId(null);
    setBubbles([]);
    setDebug(null);
    setTools([]);
    setTurns(0);
    setEnding(null);
    setError(null);
  }, [stopPlayback]);

  // Leaving the page hangs up.
  useEffect(
    () => () => {
      stopPlayback();
      const ws = socket.current;
      socket.current = null;
      ws?.close(1000, "left the page");
    },
    [stopPlayback],
  );

  const last = bubbles.at(-1);
  const agentSpeaking =
    phase === "live" &&
    last?.speaker === "agent" &&
    !last.interrupted &&
    (last.streaming || last.heardWords < words(last.text).length);

  return {
    phase,
    callId,
    bubbles,
    debug,
    tools,
    turns,
    ending,
    error,
    agentSpeaking,
    start,
    say,
    interrupt,
    hangUp,
    reset,
  };
}

/** The words of a bubble: what has been played and what has not (yet, or ever, if interrupted). */
export function splitHeard(bubble: Bubble): { heard: string; rest: string } {
  const all = words(bubble.text);
  if (bubble.speaker === "caller") return { heard: bubble.text, rest: "" };
  return { heard: all.slice(0, bubble.heardWords).join(""), rest: all.slice(bubble.heardWords).join("") };
}
