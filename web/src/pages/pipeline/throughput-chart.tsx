import type { z } from "zod";
import type { ThroughputSchema } from "../../../../shared/schemas/pipeline";
import { sourceLabel } from "../../components/world-badges";

export type Throughput = z.infer<typeof ThroughputSchema>;

/** Series beyond this many are drawn together as "Other sources". */
const MAX_SERIES = 5;
const HOUR_LABEL = new Intl.DateTimeFormat(undefined, { hour: "numeric" });
const DAY_LABEL = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });
const FULL_LABEL = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

interface Series {
  label: string;
  total: number;
  counts: number[];
}

const seriesLabel = (s: Throughput["sources"][number]) =>
  s.source_system && s.source_system !== s.source
    ? `${sourceLabel(s.source)} (${s.source_system})`
    : sourceLabel(s.source);

/** The largest series by volume, the rest summed into one. */
function seriesOf(data: Throughput): Series[] {
  const shown = data.sources.slice(0, MAX_SERIES).map((s) => ({
    label: seriesLabel(s),
    total: s.total,
    counts: s.counts,
  }));
  const rest = data.sources.slice(MAX_SERIES);
  if (rest.length > 0) {
    shown.push({
      label: "Other sources",
      total: rest.reduce((n, s) => n + s.total, 0),
      counts: data.buckets.map((_, i) => rest.reduce((n, s) => n + (s.counts[i] ?? 0), 0)),
    });
  }
  return shown;
}

/** A round number at or above `max`, so the axis reads 10, 50, 200 rather than 37. */
function niceCeiling(max: number): number {
  if (max <= 5) return 5;
  const magnitude = 10 ** Math.floor(Math.log10(max));
  const step = [1, 2, 5, 10].find((f) => f * magnitude >= max) ?? 10;
  return step * magnitude;
}

/**
 * World events per bucket as stacked bars, one colour per source, in inline SVG (no chart library).
 * The bars stretch with the page; the axis labels are HTML so they stay readable at any width. A table
 * with the same numbers sits behind a disclosure, for screen readers and for anyone who wants figures.
 */
export function ThroughputChart({ data }: { data: Throughput }) {
  const series = seriesOf(data);
  const n = data.buckets.length;
  const peak = Math.max(0, ...data.buckets.map((b) => b.total));
  const top = niceCeiling(peak);
  const hourly = data.bucket === "hour";
  const label = (iso: string) => (hourly ? HOUR_LABEL : DAY_LABEL).format(new Date(iso));
  const every = hourly ? 6 : 7;
  const ticks = data.buckets
    .map((b, i) => ({ i, start: b.start }))
    .filter(({ i }) => (n - 1 - i) % every === 0);
  const window = hourly ? `last ${n} hours` : `last ${n} days`;
  const peakBucket = data.buckets.find((b) => b.total === peak);
  const summary =
    data.total === 0
      ? `No world events in the ${window}.`
      : `${data.total} world events in the ${window}; at most ${peak} in one ${data.bucket}${
          peakBucket ? `, ${FULL_LABEL.format(new Date(peakBucket.start))}` : ""
        }.`;

  return (
    <figure class="chart-figure">
      <div class="chart">
        <div class="chart-y" aria-hidden="true">
          <span>{top}</span>
          <span>{top / 2}</span>
          <span>0</span>
        </div>
        <svg
          class="chart-plot"
          viewBox={`0 0 ${n * 10} 100`}
          preserveAspectRatio="none"
          role="img"
          aria-label={summary}
        >
          <line x1="0" x2={n * 10} y1="0.5" y2="0.5" class="chart-grid" vector-effect="non-scaling-stroke" />
          <line x1="0" x2={n * 10} y1="50" y2="50" class="chart-grid" vector-effect="non-scaling-stroke" />
          <line
            x1="0"
            x2={n * 10}
            y1="99.5"
            y2="99.5"
            class="chart-base"
            vector-effect="non-scaling-stroke"
          />
          {data.buckets.map((bucket, i) => {
            let y = 100;
            const parts = series
              .map((s, k) => ({ k, count: s.counts[i] ?? 0 }))
              .filter((p) => p.count > 0)
              .map(({ k, count }) => {
                const height = (count / top) * 100;
                y -= height;
                return (
                  <rect key={k} class={`series-${k}`} x={i * 10 + 1.5} width="7" y={y} height={height} />
                );
              });
            const breakdown = series
              .map((s) => [s.label, s.counts[i] ?? 0] as const)
              .filter(([, count]) => count > 0)
              .map(([name, count]) => `${name} ${count}`)
              .join(", ");
            return (
              <g key={bucket.start} class="chart-bucket" data-total={bucket.total}>
                <title>{`${FULL_LABEL.format(new Date(bucket.start))}: ${bucket.total} event${
                  bucket.total === 1 ? "" : "s"
                }${breakdown ? ` (${breakdown})` : ""}`}</title>
                {/* A full-height hit area, so the tooltip works over empty and short bars too. */}
                <rect class="chart-hit" x={i * 10} width="10" y="0" height="100" />
                {parts}
              </g>
            );
          })}
        </svg>
        <div class="chart-x" aria-hidden="true">
          {ticks.map(({ i, start }) => (
            <span key={start} style={{ left: `${((i + 0.5) / n) * 100}%` }}>
              {label(start)}
            </span>
          ))}
        </div>
      </div>
      <figcaption class="chart-caption">
        <span class="muted">{summary}</span>
        {series.length > 0 && (
          <ul class="chart-legend" aria-label="Sources">
            {series.map((s, k) => (
              <li key={s.label}>
                <span class={`swatch series-${k}`} aria-hidden="true" />
                {s.label} <span class="muted">{s.total}</span>
              </li>
            ))}
          </ul>
        )}
      </figcaption>
      {data.total > 0 && (
        <details class="disclosure">
          <summary>Show the numbers</summary>
          <div class="table-scroll">
            <table class="table" aria-label="World events per bucket">
              <thead>
                <tr>
                  <th scope="col">{hourly ? "Hour" : "Day"}</th>
                  {series.map((s) => (
                    <th key={s.label} scope="col" class="numeric">
                      {s.label}
                    </th>
                  ))}
                  <th scope="col" class="numeric">
                    Total
                  </th>
                </tr>
              </thead>
              <tbody>
                {data.buckets.map((bucket, i) =>
                  bucket.total === 0 ? null : (
                    <tr key={bucket.start}>
                      <td>{FULL_LABEL.format(new Date(bucket.start))}</td>
                      {series.map((s) => (
                        <td key={s.label} class="numeric">
                          {s.counts[i] ?? 0}
                        </td>
                      ))}
                      <td class="numeric">{bucket.total}</td>
                    </tr>
                  ),
                )}
              </tbody>
            </table>
          </div>
        </details>
      )}
    </figure>
  );
}
