/**
 * The call's audio on the Media Streams path, as the listen socket forwards it: 20 ms frames of 8 kHz
 * μ-law per track (the caller `inbound`, the agent or operator `outbound`), decoded and scheduled back to
 * back with Web Audio. Each track keeps its own play-head, so the two voices mix as the caller hears
 * them; a track that falls behind (a late frame) restarts a little ahead rather than bunching up.
 * Browsers only start audio after a gesture, so playing starts from a button.
 */
import { mulawToPcm, SAMPLE_RATE } from "../../../../shared/audio/mulaw";

/** How far ahead a track that ran dry starts again: enough to absorb a late frame. */
const LEAD_SECONDS = 0.08;

export type AudioTrack = "inbound" | "outbound";

export class CallAudioPlayer {
  #context: AudioContext | null = null;
  readonly #next: Record<AudioTrack, number> = { inbound: 0, outbound: 0 };

  get playing(): boolean {
    return this.#context !== null;
  }

  /** Call from a click (autoplay policies). */
  start(): void {
    this.#context ??= new AudioContext();
    void this.#context.resume();
  }

  stop(): void {
    void this.#context?.close();
    this.#context = null;
    this.#next.inbound = 0;
    this.#next.outbound = 0;
  }

  /** One base64 frame of a track; dropped while not playing. */
  push(track: AudioTrack, payload: string): void {
    const context = this.#context;
    if (!context) return;
    let bytes: Uint8Array;
    try {
      bytes = Uint8Array.from(atob(payload), (c) => c.charCodeAt(0));
    } catch {
      return;
    }
    if (bytes.length === 0) return;
    const pcm = mulawToPcm(bytes);
    const buffer = context.createBuffer(1, pcm.length, SAMPLE_RATE);
    const samples = buffer.getChannelData(0);
    for (let i = 0; i < pcm.length; i++) samples[i] = pcm[i]! / 32768;
    const source = context.createBufferSource();
    source.buffer = buffer;
    source.connect(context.destination);
    const now = context.currentTime;
    const start = this.#next[track] > now ? this.#next[track] : now + LEAD_SECONDS;
    source.start(start);
    this.#next[track] = start + buffer.duration;
  }
}
