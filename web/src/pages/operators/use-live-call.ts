/**
 * One live call as an operator follows it: `POST /calls/{id}/connect` (the operator opened it: an
 * escalation waiting for someone becomes connected), then the listen socket
 * (`GET /v1/{ws}/calls/{id}/listen`, a WebSocket on the session cookie) which sends a `snapshot` of the
 * call and then each `turn`, `point`, `overlay`, `control` and `ended` as they happen. The caller never
 * knows. After a blip the socket reconnects by itself (backing off) and the new snapshot replaces what the
 * page held, so nothing said in between is lost.
 */
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { api, isApiError, workspacePath } from "../../api";
import type { CallOverlay, ListenFrame, LiveControl, LivePoint, LiveTurn, LiveView } from "../../types";

export type ListenState =
  | "connecting"
  | "listening"
  | "reconnecting"
  /** The call is over: the transcript stays, nothing more will come. */
  | "ended"
  /** The socket never opened after several tries (no access, or the call is gone). */
  | "failed";

export interface LiveCallData {
  overlay: CallOverlay;
  control: LiveControl;
  verified: boolean;
  patientEntityId: string | null;
  turns: LiveTurn[];
  timeline: LivePoint[];
  intent: string | null;
  guidancePending: number;
  endedAt: string | null;
  endedReason: string | null;
}

export interface LiveCall {
  state: ListenState;
  data: LiveCallData | null;
  /** Audio frames have arrived (a Media Streams call): there is something to play. */
  hasAudio: boolean;
  /** Opening the call (`/connect`) failed: why. Listening may still work (a call that just ended). */
  connectError: unknown;
  /** An action answered with the call's control state: show it before the socket's frame arrives. */
  applyControl(control: LiveControl): void;
  /** Try again now after `failed`. */
  retry(): void;
}

/** Reconnect delays: 0.5 s, 1 s, 2 s … at most 8 s; given up after this many failures in a row. */
const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 8_000;
const MAX_FAILURES = 8;

function fromSnapshot(view: LiveView): LiveCallData {
  return {
    overlay: view.overlay,
    control: view.control,
    verified: view.verified,
    patientEntityId: view.patient_entity_id,
    turns: [...view.turns].sort((a, b) => a.seq - b.seq),
    timeline: [...view.timeline].sort((a, b) => a.seq - b.seq),
    intent: view.intent,
    guidancePending: view.guidance_pending,
    endedAt: view.ended_at,
    endedReason: null,
  };
}

/** Adds or replaces the item with the same `seq`, keeping the list in order. */
function upsertBySeq<T extends { seq: number }>(list: T[], item: T): T[] {
  const rest = list.filter((x) => x.seq !== item.seq);
  rest.push(item);
  return rest.sort((a, b) => a.seq - b.seq);
}

/** What a frame changes; frames before the first snapshot are dropped (the snapshot includes them). */
export function applyFrame(data: LiveCallData | null, frame: ListenFrame): LiveCallData | null {
  if (frame.type === "snapshot") {
    const { type: _type, ...view } = frame;
    return fromSnapshot(view);
  }
  if (!data) return null;
  switch (frame.type) {
    case "turn": {
      const { type: _type, ...turn } = frame;
      return { ...data, turns: upsertBySeq(data.turns, turn) };
    }
    case "point":
      return { ...data, timeline: upsertBySeq(data.timeline, frame.point) };
    case "overlay":
      return { ...data, overlay: frame.overlay, verified: frame.overlay.patient_verified };
    case "control": {
      const { type: _type, ...control } = frame;
      return { ...data, control };
    }
    case "ended":
      return { ...data, endedAt: data.endedAt ?? new Date().toISOString(), endedReason: frame.reason };
    default:
      return data;
  }
}

/** Where `audio` frames go (they are not kept: 50 a second per track). */
export type AudioSink = (track: "inbound" | "outbound", payload: string) => void;

export function useLiveCall(workspaceId: string, callId: string, onAudio?: AudioSink): LiveCall {
  const [state, setState] = useState<ListenState>("connecting");
  const [hasAudio, setHasAudio] = useState(false);
  const audio = useRef(onAudio);
  audio.current = onAudio;
  const [data, setData] = useState<LiveCallData | null>(null);
  const [connectError, setConnectError] = useState<unknown>(null);
  const [generation, setGeneration] = useState(0);
  const ended = useRef(false);

  useEffect(() => {
    let socket: WebSocket | null = null;
    let timer: number | null = null;
    let failures = 0;
    let closed = false;
    ended.current = false;
    setState("connecting");
    setData(null);
    setConnectError(null);

    // A call the API already calls over gets one try (a call that just ended still shows its final view).
    let maxFailures = MAX_FAILURES;
    const scheduleReconnect = () => {
      if (closed || ended.current) return;
      failures += 1;
      if (failures >= maxFailures) {
        setState("failed");
        return;
      }
      setState("reconnecting");
      const delay = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** (failures - 1));
      timer = window.setTimeout(open, delay);
    };

    function open() {
      timer = null;
      if (closed) return;
      const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
      const ws = new WebSocket(
        `${scheme}//${window.location.host}${workspacePath(workspaceId, "calls", callId, "listen")}`,
      );
      socket = ws;
      ws.addEventListener("message", (event) => {
        let frame: ListenFrame;
        try {
          frame = JSON.parse(String(event.data)) as ListenFrame;
        } catch {
          return;
        }
        if (frame.type === "snapshot") {
          failures = 0;
          setState(frame.ended_at ? "ended" : "listening");
          if (frame.ended_at) ended.current = true;
        }
        if (frame.type === "audio") {
          setHasAudio(true);
          audio.current?.(frame.track, frame.payload);
          return;
        }
        if (frame.type === "ended") {
          ended.current = true;
          setState("ended");
        }
        setData((current) => applyFrame(current, frame));
      });
      ws.addEventListener("close", () => {
        if (socket !== ws) return;
        socket = null;
        if (ended.current) setState("ended");
        else scheduleReconnect();
      });
    }

    // Connect first (it moves a waiting escalation to connected), then listen whatever it answered.
    api
      .post<LiveControl>(workspacePath(workspaceId, "calls", callId, "connect"))
      .then(
        (control) => setData((current) => (current ? { ...current, control } : current)),
        (error: unknown) => {
          setConnectError(error);
          if (isApiError(error, "conflict")) maxFailures = 1;
        },
      )
      .finally(() => {
        if (!closed) open();
      });

    return () => {
      closed = true;
      if (timer !== null) window.clearTimeout(timer);
      const ws = socket;
      socket = null;
      ws?.close(1000, "closed the call view");
    };
  }, [workspaceId, callId, generation]);

  const applyControl = useCallback(
    (control: LiveControl) => setData((current) => (current ? { ...current, control } : current)),
    [],
  );
  const retry = useCallback(() => setGeneration((g) => g + 1), []);

  return { state, data, hasAudio, connectError, applyControl, retry };
}
