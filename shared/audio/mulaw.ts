/**
 * Telephone audio as Twilio Media Streams carries it: G.711 μ-law (`audio/x-mulaw`), 8 kHz, mono, one
 * byte a sample, sent in ~20 ms frames of 160 bytes (base64 in the JSON `media` messages, both ways).
 * The codec is the `alawmulaw` library's; this module fixes the format's constants and the unit sums.
 */
import { mulaw } from "alawmulaw";

export const SAMPLE_RATE = 8000;
/** 20 ms of μ-law at 8 kHz: what Twilio sends per `media` message, and what we send back. */
export const FRAME_BYTES = 160;

/** μ-law bytes to 16-bit linear PCM, one sample per byte. */
export function mulawToPcm(bytes: Uint8Array): Int16Array {
  return mulaw.decode(bytes);
}

/** 16-bit linear PCM to μ-law bytes (lossy: about 14 bits of range in 8, finest near zero). */
export function pcmToMulaw(pcm: Int16Array): Uint8Array {
  return mulaw.encode(pcm);
}

/** Cuts audio into frames of `size` bytes (views, not copies); the last one may be shorter. */
export function splitFrames(bytes: Uint8Array, size = FRAME_BYTES): Uint8Array[] {
  if (!Number.isInteger(size) || size <= 0) throw new RangeError("frame size must be a positive integer");
  const frames: Uint8Array[] = [];
  for (let offset = 0; offset < bytes.length; offset += size)
    frames.push(bytes.subarray(offset, offset + size));
  return frames;
}

/** How long `samples` samples (μ-law: bytes) last at 8 kHz, in milliseconds. */
export const samplesToMs = (samples: number) => (samples * 1000) / SAMPLE_RATE;

/** How many samples (μ-law: bytes) `ms` milliseconds hold at 8 kHz, rounded to a whole sample. */
export const msToSamples = (ms: number) => Math.round((ms * SAMPLE_RATE) / 1000);
