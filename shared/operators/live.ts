/**
 * What a live call's `CallSession` tells the command center: the view an operator opens (transcript so
 * far, risk and emotion per turn, tools, control) and the frames its listen socket then streams.
 * PHI (turn text) travels only to operators, over the authenticated listen socket or the briefing.
 */
import type { CallOverlay } from "../schemas/operators";

export type Speaker = "caller" | "agent" | "operator";

export interface LiveTurn {
  seq: number;
  speaker: Speaker;
  /** What was said (after a barge-in, what the caller heard of the agent). */
  text: string;
  at: string;
  /** The operator who spoke (speaker `operator` only). */
  operator_user_id?: string | null;
}

/** One point of the risk and emotion timelines (one per caller turn). */
export interface LivePoint {
  seq: number;
  at: string;
  risk_score: number;
  risk_level: CallOverlay["risk_level"];
  emotion_score: number;
  valence: number;
}

export interface LiveControl {
  call_id: string;
  mode: "agent" | "operator";
  operator_user_id: string | null;
  escalation: CallOverlay["escalation"];
  pending_transfer: boolean;
}

export interface LiveView {
  overlay: CallOverlay;
  control: LiveControl;
  /** The linked patient (null when the caller is unknown) and whether the caller proved who they are. */
  patient_entity_id: string | null;
  verified: boolean;
  turns: LiveTurn[];
  timeline: LivePoint[];
  tools: { name: string; outcome: string; at: string }[];
  /** The intent the engine last matched, and the context-graph state. */
  intent: string | null;
  /** Guidance waiting for the agent's next reply. */
  guidance_pending: number;
  ended_at: string | null;
}

/** Frames the listen socket sends (JSON text frames). */
export type ListenFrame =
  | ({ type: "snapshot" } & LiveView)
  | ({ type: "turn" } & LiveTurn)
  | { type: "point"; point: LivePoint }
  | { type: "overlay"; overlay: CallOverlay }
  | ({ type: "control" } & LiveControl)
  /** Media Streams calls: 20 ms of 8 kHz μ-law, base64, caller (`inbound`) or agent/operator (`outbound`). */
  | { type: "audio"; track: "inbound" | "outbound"; payload: string }
  | { type: "ended"; reason: string };
