/**
 * Voice activity detection with endpointing for the caller's side of a Media Streams call: which 8 kHz
 * PCM frames are speech, when an utterance starts, and when it has ended (so the session can send it to
 * speech-to-text and answer).
 *
 * Energy-based, against an adaptive noise floor: a frame is voiced when its level is far enough over
 * the floor (and over an absolute minimum, so a very quiet line's hiss is never speech). The floor
 * follows quieter frames quickly and louder ones slowly (a few dB a second), so steady line noise soon
 * sits at the floor and stops counting, while speech, which always has pauses, keeps pulling it back
 * down. Inside an utterance the threshold is lower than to start one (hysteresis: word endings are
 * quieter than onsets).
 *
 * - `speech_start` fires once voiced frames have lasted `minSpeechMs` without a break (a click, a cough
 *   of one frame, does not count). The onset frames belong to the utterance: at `speech_start`,
 *   `state.utteranceMs` ms of audio (this frame included) are speech, so keep that much pre-roll.
 * - `speech_end` fires after `endSilenceMs` of unvoiced frames inside an utterance, or when the
 *   utterance reaches `maxUtteranceMs` (then `state.endedBy` says which). Speech that goes on after a
 *   length cut starts a new utterance.
 *
 * The state is a plain JSON object: the CallSession persists it between frames (it may hibernate).
 */
import { samplesToMs } from "./mulaw";

export interface VadConfig {
  /** A frame may start speech when it is this many dB over the noise floor. */
  startOverFloorDb: number;
  /** Inside an utterance, a frame counts as speech when it is this many dB over the floor. */
  continueOverFloorDb: number;
  /** No frame quieter than this (dBFS) is speech, however quiet the line. */
  minSpeechLevelDb: number;
  /** Voiced time without a break before `speech_start`. */
  minSpeechMs: number;
  /** Unvoiced time inside an utterance that ends it. */
  endSilenceMs: number;
  /** The longest utterance: at this length it ends regardless. */
  maxUtteranceMs: number;
  /** How fast the floor rises toward louder frames outside an utterance, in dB a second. */
  floorRiseDbPerSecond: number;
  /** The same inside an utterance: slower, but not zero, or noise that began as "speech" would never end. */
  floorRiseInSpeechDbPerSecond: number;
  /** The share of the gap the floor closes per frame toward a quieter frame (0..1; 1 = at once). */
  floorFallRate: number;
  /** The floor never goes below this (dBFS): a dropout of digital silence must not make every sound speech. */
  floorMinDb: number;
}

export const DEFAULT_VAD: VadConfig = {
  startOverFloorDb: 12,
  continueOverFloorDb: 8,
  minSpeechLevelDb: -48,
  minSpeechMs: 80,
  endSilenceMs: 700,
  maxUtteranceMs: 15_000,
  floorRiseDbPerSecond: 3,
  floorRiseInSpeechDbPerSecond: 1,
  floorFallRate: 0.3,
  floorMinDb: -80,
};

export interface VadState {
  /** The noise floor in dBFS; null before the first frame (which sets it). */
  noiseFloorDb: number | null;
  /** Inside an utterance (between `speech_start` and `speech_end`). */
  speaking: boolean;
  /** Voiced time without a break, outside an utterance (the candidate onset). */
  voicedMs: number;
  /** Unvoiced time without a break, inside an utterance. */
  silenceMs: number;
  /** Length of the current utterance, its onset included; 0 outside one. */
  utteranceMs: number;
  /** Why the last utterance ended. */
  endedBy: "silence" | "max_length" | null;
}

export function initialVad(): VadState {
  return { noiseFloorDb: null, speaking: false, voicedMs: 0, silenceMs: 0, utteranceMs: 0, endedBy: null };
}

export type VadEvent = "none" | "speech_start" | "speech_end";

/** Levels below this are all "silence"; it also keeps the state free of -Infinity (not JSON). */
const LEVEL_FLOOR_DB = -100;

/** A frame's RMS level in dB relative to a full-scale 16-bit signal (dBFS). */
export function frameLevelDb(frame: Int16Array): number {
  if (frame.length === 0) return LEVEL_FLOOR_DB;
  let sumSquares = 0;
  for (const sample of frame) sumSquares += sample * sample;
  const meanSquare = sumSquares / frame.length / (32768 * 32768);
  return Math.max(LEVEL_FLOOR_DB, 10 * Math.log10(meanSquare || 1e-12));
}

function nextFloor(floor: number, level: number, frameMs: number, risePerSecond: number, config: VadConfig) {
  const moved =
    level < floor
      ? floor + (level - floor) * config.floorFallRate
      : floor + Math.min(level - floor, (risePerSecond * frameMs) / 1000);
  return Math.max(config.floorMinDb, moved);
}

/**
 * Feeds one frame (any length; Twilio's are 20 ms) and returns the new state, what happened, and
 * whether the caller is speaking after this frame. Pure: the given state is not changed.
 */
export function vadStep(
  state: VadState,
  frame: Int16Array,
  config: VadConfig = DEFAULT_VAD,
): { state: VadState; event: VadEvent; speaking: boolean } {
  const frameMs = samplesToMs(frame.length);
  if (frameMs === 0) return { state, event: "none", speaking: state.speaking };
  const level = frameLevelDb(frame);
  const floor = state.noiseFloorDb ?? Math.max(config.floorMinDb, level);
  const overFloor = level - floor;
  const loudEnough = level >= config.minSpeechLevelDb;
  const next: VadState = { ...state };
  let event: VadEvent = "none";

  if (!state.speaking) {
    const voiced = loudEnough && overFloor >= config.startOverFloorDb;
    next.voicedMs = voiced ? state.voicedMs + frameMs : 0;
    if (next.voicedMs >= config.minSpeechMs) {
      event = "speech_start";
      next.speaking = true;
      next.utteranceMs = next.voicedMs;
      next.voicedMs = 0;
      next.silenceMs = 0;
      next.endedBy = null;
    }
  } else {
    const voiced = loudEnough && overFloor >= config.continueOverFloorDb;
    next.utteranceMs = state.utteranceMs + frameMs;
    next.silenceMs = voiced ? 0 : state.silenceMs + frameMs;
    const endedBy =
      next.silenceMs >= config.endSilenceMs
        ? "silence"
        : next.utteranceMs >= config.maxUtteranceMs
          ? "max_length"
          : null;
    if (endedBy) {
      event = "speech_end";
      Object.assign(next, { speaking: false, voicedMs: 0, silenceMs: 0, utteranceMs: 0, endedBy });
    }
  }

  const rise = state.speaking ? config.floorRiseInSpeechDbPerSecond : config.floorRiseDbPerSecond;
  next.noiseFloorDb = nextFloor(floor, level, frameMs, rise, config);
  return { state: next, event, speaking: next.speaking };
}
