/**
 * The call's risk and emotion over its caller turns, as small inline SVG line charts (no chart library).
 * Each chart stretches to its column; its summary (where it stands now and where it peaked) is the
 * accessible name, and the figure's caption says the same in words.
 */
import { REASON_THRESHOLDS } from "../../../../shared/operators/urgency";
import type { LivePoint } from "../../types";

const W = 240;
const H = 64;

interface Series {
  label: string;
  className: string;
  values: number[];
}

/** Room around the plot, so the dots at the edges are whole. */
const PAD = 4;

/** Where each value sits in the chart. */
function points(values: number[], min: number, max: number): [number, number][] {
  const n = values.length;
  const x = (i: number) => (n === 1 ? W / 2 : PAD + (i / (n - 1)) * (W - 2 * PAD));
  const y = (v: number) => PAD + (1 - (Math.min(max, Math.max(min, v)) - min) / (max - min)) * (H - 2 * PAD);
  return values.map((v, i) => [x(i), y(v)]);
}

function LineChart({
  title,
  summary,
  series,
  min,
  max,
  guides,
}: {
  title: string;
  summary: string;
  series: Series[];
  min: number;
  max: number;
  guides: { value: number; className: string }[];
}) {
  const y = (v: number) => PAD + (1 - (v - min) / (max - min)) * (H - 2 * PAD);
  const empty = series.every((s) => s.values.length === 0);
  return (
    <figure class="ops-chart">
      <figcaption>
        <span class="ops-chart-title">{title}</span>
        <span class="ops-chart-legend" aria-hidden="true">
          {series.length > 1 &&
            series.map((s) => (
              <span key={s.label} class={`ops-legend ${s.className}`}>
                {s.label}
              </span>
            ))}
        </span>
      </figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`${title}: ${summary}`} class="ops-chart-svg">
        {guides.map((g) => (
          <line key={g.value} x1="0" x2={W} y1={y(g.value)} y2={y(g.value)} class={g.className} />
        ))}
        {series.map((s) => {
          const at = points(s.values, min, max);
          return (
            <g key={s.label} class={s.className}>
              {at.length > 1 && (
                <polyline points={at.map(([px, py]) => `${px.toFixed(1)},${py.toFixed(1)}`).join(" ")} />
              )}
              {at.map(([px, py], i) => (
                <circle key={i} cx={px} cy={py} r={2.5} />
              ))}
            </g>
          );
        })}
      </svg>
      <p class="ops-chart-summary muted small-text">{empty ? "No caller turns yet." : summary}</p>
    </figure>
  );
}

const fixed = (n: number) => n.toFixed(2);

export function RiskChart({ timeline }: { timeline: readonly LivePoint[] }) {
  const values = timeline.map((p) => p.risk_score);
  const last = timeline.at(-1);
  const summary = last
    ? `now ${fixed(last.risk_score)} (${last.risk_level}), highest ${fixed(Math.max(...values))} over ${values.length} turn${values.length === 1 ? "" : "s"}`
    : "no turns yet";
  return (
    <LineChart
      title="Risk"
      summary={summary}
      min={0}
      max={1}
      series={[{ label: "Risk", className: "line-risk", values }]}
      guides={[{ value: REASON_THRESHOLDS.high_risk, className: "guide-threshold" }]}
    />
  );
}

export function EmotionChart({ timeline }: { timeline: readonly LivePoint[] }) {
  const distress = timeline.map((p) => p.emotion_score);
  const valence = timeline.map((p) => p.valence);
  const last = timeline.at(-1);
  const summary = last
    ? `distress now ${fixed(last.emotion_score)}, valence ${fixed(last.valence)}; most distressed ${fixed(Math.max(...distress))}`
    : "no turns yet";
  return (
    <LineChart
      title="Emotion"
      summary={summary}
      min={-1}
      max={1}
      series={[
        { label: "Distress", className: "line-distress", values: distress },
        { label: "Valence", className: "line-valence", values: valence },
      ]}
      guides={[
        { value: 0, className: "guide-zero" },
        { value: REASON_THRESHOLDS.negative_emotion, className: "guide-threshold" },
      ]}
    />
  );
}
