/**
 * A call recording as one stereo WAV: the caller on the left channel, the agent and any operator on the
 * right, 16-bit linear PCM at 8 kHz, built from the μ-law segments the session stored, and streamed in
 * chunks so a long call never sits in memory whole (the length is known up front, for R2 and
 * `FixedLengthStream`).
 *
 * Each channel is given as segments sorted by start sample and read lazily (a generator over a
 * database cursor will do): only the segments that reach into the chunk being written are held.
 * Overlapping segments on a channel are mixed (summed, clipped to 16 bits); gaps are silence; audio
 * past `totalSamples` is cut.
 *
 * Format: RIFF/WAVE with a 16-byte `fmt ` chunk (PCM, format tag 1) and one `data` chunk, little-endian,
 * samples interleaved left, right.
 */
import { mulawToPcm, SAMPLE_RATE } from "./mulaw";

export interface TrackSegment {
  /** Where the segment starts on the call's timeline, in samples from the start of the recording. */
  startSample: number;
  /** μ-law 8 kHz mono. */
  audio: Uint8Array;
}

export const WAV_HEADER_BYTES = 44;
const CHANNELS = 2;
const BYTES_PER_SAMPLE = 2;
const BLOCK_ALIGN = CHANNELS * BYTES_PER_SAMPLE;
/** The RIFF size field is 32 bits: the whole file less 8 bytes must fit. */
const MAX_DATA_BYTES = 0xffff_ffff - (WAV_HEADER_BYTES - 8);
/** One second a chunk: 32 KB out, a few KB of work per segment. */
const DEFAULT_CHUNK_SAMPLES = SAMPLE_RATE;

/** The 44-byte header of a stereo 16-bit 8 kHz PCM WAV holding `totalSamples` samples a channel. */
export function stereoWavHeader(totalSamples: number): Uint8Array {
  const dataBytes = totalSamples * BLOCK_ALIGN;
  const header = new Uint8Array(WAV_HEADER_BYTES);
  const view = new DataView(header.buffer);
  const ascii = (offset: number, text: string) => {
    for (let i = 0; i < text.length; i++) header[offset + i] = text.charCodeAt(i);
  };
  ascii(0, "RIFF");
  view.setUint32(4, WAV_HEADER_BYTES - 8 + dataBytes, true);
  ascii(8, "WAVE");
  ascii(12, "fmt ");
  view.setUint32(16, 16, true); // fmt chunk size
  view.setUint16(20, 1, true); // PCM
  view.setUint16(22, CHANNELS, true);
  view.setUint32(24, SAMPLE_RATE, true);
  view.setUint32(28, SAMPLE_RATE * BLOCK_ALIGN, true); // byte rate
  view.setUint16(32, BLOCK_ALIGN, true);
  view.setUint16(34, BYTES_PER_SAMPLE * 8, true); // bits per sample
  ascii(36, "data");
  view.setUint32(40, dataBytes, true);
  return header;
}

/** A decoded segment, held while it reaches into the chunks still to write. */
interface Held {
  start: number;
  pcm: Int16Array;
}

/** One channel's segments, pulled from their iterator only as far as the chunk being written needs. */
class ChannelMixer {
  readonly #iterator: Iterator<TrackSegment>;
  readonly #totalSamples: number;
  #held: Held[] = [];
  #pending: TrackSegment | null = null;
  #done = false;
  #lastStart = Number.NEGATIVE_INFINITY;

  constructor(segments: Iterable<TrackSegment>, totalSamples: number) {
    this.#iterator = segments[Symbol.iterator]();
    this.#totalSamples = totalSamples;
  }

  /** The next segment, or null when there are none that can still be heard. */
  #peek(): TrackSegment | null {
    if (this.#pending || this.#done) return this.#pending;
    const step = this.#iterator.next();
    if (step.done) {
      this.#done = true;
      return null;
    }
    const segment = step.value;
    if (!Number.isInteger(segment.startSample))
      throw new RangeError("segment startSample must be an integer");
    if (segment.startSample < this.#lastStart)
      throw new RangeError("segments must come sorted by startSample");
    this.#lastStart = segment.startSample;
    if (segment.startSample >= this.#totalSamples) {
      // Sorted: nothing after this one can be heard either.
      this.#release();
      return null;
    }
    this.#pending = segment;
    return segment;
  }

  /** Sums this channel's audio for samples [from, to) into `mix`. */
  mixInto(mix: Int32Array, from: number, to: number) {
    for (let next = this.#peek(); next && next.startSample < to; next = this.#peek()) {
      this.#pending = null;
      this.#held.push({ start: next.startSample, pcm: mulawToPcm(next.audio) });
    }
    for (const { start, pcm } of this.#held) {
      const first = Math.max(from, start);
      const last = Math.min(to, start + pcm.length);
      for (let t = first; t < last; t++) mix[t - from]! += pcm[t - start]!;
    }
    this.#held = this.#held.filter(({ start, pcm }) => start + pcm.length > to);
  }

  /** Stops reading the source (a generator's `finally` runs: its cursor closes). */
  #release() {
    if (this.#done) return;
    this.#done = true;
    this.#pending = null;
    this.#iterator.return?.();
  }

  /** Done with this channel: the source is let go and nothing is held. */
  close() {
    this.#release();
    this.#held = [];
  }
}

const clip16 = (value: number) => Math.min(32767, Math.max(-32768, value));

/**
 * A stereo WAV of `totalSamples` samples a channel (caller `left`, agent and operator `right`), as a
 * stream of chunks of `chunkSamples` samples (the header first). `byteLength` is exact:
 * 44 + totalSamples × 4.
 */
export function stereoWav(
  totalSamples: number,
  left: Iterable<TrackSegment>,
  right: Iterable<TrackSegment>,
  chunkSamples: number = DEFAULT_CHUNK_SAMPLES,
): { byteLength: number; stream: ReadableStream<Uint8Array> } {
  if (!Number.isInteger(totalSamples) || totalSamples < 0)
    throw new RangeError("totalSamples must be a non-negative integer");
  if (totalSamples * BLOCK_ALIGN > MAX_DATA_BYTES) throw new RangeError("recording too long for one WAV");
  if (!Number.isInteger(chunkSamples) || chunkSamples <= 0)
    throw new RangeError("chunkSamples must be a positive integer");

  let channels: [ChannelMixer, ChannelMixer] | null = null;
  let position = 0;
  const closeAll = () => {
    for (const channel of channels ?? []) channel.close();
  };

  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(stereoWavHeader(totalSamples));
    },
    pull(controller) {
      try {
        channels ??= [new ChannelMixer(left, totalSamples), new ChannelMixer(right, totalSamples)];
        if (position >= totalSamples) {
          closeAll();
          controller.close();
          return;
        }
        const end = Math.min(totalSamples, position + chunkSamples);
        const length = end - position;
        const leftMix = new Int32Array(length);
        const rightMix = new Int32Array(length);
        channels[0].mixInto(leftMix, position, end);
        channels[1].mixInto(rightMix, position, end);
        const chunk = new Uint8Array(length * BLOCK_ALIGN);
        const view = new DataView(chunk.buffer);
        for (let i = 0; i < length; i++) {
          view.setInt16(i * BLOCK_ALIGN, clip16(leftMix[i]!), true);
          view.setInt16(i * BLOCK_ALIGN + BYTES_PER_SAMPLE, clip16(rightMix[i]!), true);
        }
        position = end;
        controller.enqueue(chunk);
      } catch (error) {
        closeAll();
        controller.error(error);
      }
    },
    cancel() {
      closeAll();
    },
  });
  return { byteLength: WAV_HEADER_BYTES + totalSamples * BLOCK_ALIGN, stream };
}
