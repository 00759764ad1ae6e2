import type { z } from "zod";
import type {
  EntityResolutionSchema,
  PipelineSourcesSchema,
  PipelineStatusSchema,
  SourceHealthSchema,
} from "../../../../shared/schemas/pipeline";
import { ErrorNotice } from "../../components/error-notice";
import { Loading } from "../../components/loading";
import { Section } from "../../components/section";
import { formatDateTime, formatRelative } from "../../format";
import type { Resource } from "../../hooks";
import { Link } from "../../router";
import type { ReviewStats } from "../../types";
import { formatSeconds } from "../review/stats";

export type PipelineStatus = z.infer<typeof PipelineStatusSchema>;
export type PipelineSources = z.infer<typeof PipelineSourcesSchema>;
export type EntityResolution = z.infer<typeof EntityResolutionSchema>;
type SourceHealth = z.infer<typeof SourceHealthSchema>;

/** How a state reads, and its colour (never the only signal: the word is always there). */
type Tone = "ok" | "warn" | "bad" | "info" | "muted";

const OVERALL: Record<PipelineStatus["status"], { label: string; tone: Tone }> = {
  healthy: { label: "Healthy", tone: "ok" },
  degraded: { label: "Degraded", tone: "bad" },
  starting: { label: "Starting", tone: "info" },
  unavailable: { label: "No active source", tone: "muted" },
};

export function Pill({ label, tone, large = false }: { label: string; tone: Tone; large?: boolean }) {
  return <span class={`badge health-${tone}${large ? " health-large" : ""}`}>{label}</span>;
}

export function OverallPill({ status }: { status: PipelineStatus["status"] }) {
  const { label, tone } = OVERALL[status];
  return (
    <span class="overall-status" data-testid="pipeline-status">
      <span class="muted">Status</span> <Pill label={label} tone={tone} large />
    </span>
  );
}

/** What the overall status means, in a sentence, and the reasons when it is degraded. */
export function StatusNotice({ status }: { status: PipelineStatus }) {
  if (status.status === "degraded") {
    return (
      <div class="notice warning" role="status">
        <p class="notice-title">Data is not flowing normally</p>
        <ul class="reason-list">
          {status.reasons.map((reason) => (
            <li key={`${reason.code}-${reason.source_id ?? ""}`}>{reason.message}.</li>
          ))}
        </ul>
        <p class="muted small-text">
          The figures below come from Switchboard's own records, so they stay current while the EHR is down.
        </p>
      </div>
    );
  }
  if (status.status === "starting") {
    return (
      <div class="notice info" role="status">
        <p class="notice-title">Waiting for the first sync</p>
        <p>No source has completed a poll or delivered a notification yet. This page updates by itself.</p>
      </div>
    );
  }
  return null;
}

/** The day's inbound volume, the write-back queue, merges and the review queue, above the details. */
export function PipelineStats({
  status,
  merges,
  review,
}: {
  status: PipelineStatus | undefined;
  merges: Resource<EntityResolution>;
  review: Resource<ReviewStats>;
}) {
  const received = status?.totals.source_events_24h;
  const sync = status?.totals.sync;
  const m = merges.data;
  const r = review.data;
  return (
    <section class="stats four" aria-label="Pipeline figures">
      <div class="stat">
        <span class="stat-label">Received, last 24 h</span>
        <span class="stat-value" data-testid="stat-received">
          {received ? received.applied + received.failed + received.skipped : "–"}
        </span>
        {received && (
          <span class="stat-sub">
            {received.applied} applied · {received.failed} failed · {received.skipped} skipped
          </span>
        )}
      </div>
      <div class="stat">
        <span class="stat-label">Write-backs waiting</span>
        <span class="stat-value" data-testid="stat-writeback">
          {sync ? sync.pending + sync.processing : "–"}
        </span>
        {sync && (
          <span class="stat-sub">
            {sync.failed} failed · {sync.synced} synced
          </span>
        )}
      </div>
      <div class="stat">
        <span class="stat-label">Duplicates merged, 7 days</span>
        <span class="stat-value">{m ? m.merges_7d : "–"}</span>
        {m && (
          <span class="stat-sub">
            {m.total_merges} in all ·{" "}
            {m.pending_match_reviews > 0 ? (
              <Link href="/review?kind=entity_match">{m.pending_match_reviews} to review</Link>
            ) : (
              "none to review"
            )}
          </span>
        )}
      </div>
      <div class="stat">
        <span class="stat-label">Review queue</span>
        <span class="stat-value">{r ? r.queue_depth : "–"}</span>
        {r && (
          <span class="stat-sub">
            {r.last_7_days.average_review_seconds !== null
              ? `${formatSeconds(r.last_7_days.average_review_seconds)} to decide, on average`
              : "No decisions this week"}
          </span>
        )}
      </div>
    </section>
  );
}

function sourceState(source: SourceHealth): { label: string; tone: Tone } {
  if (!source.enabled) return { label: "Disabled", tone: "muted" };
  if (source.status === "error") return { label: "Error", tone: "bad" };
  if (source.status === "polling") return { label: "Polling", tone: "info" };
  if (source.overdue) return { label: "Overdue", tone: "warn" };
  if (!source.last_success_at && !source.last_notification_at) return { label: "Waiting", tone: "muted" };
  return { label: "Healthy", tone: "ok" };
}

function When({ iso, now, never }: { iso: string | null; now: number; never: string }) {
  if (!iso) return <span class="muted">{never}</span>;
  return (
    <time dateTime={iso} title={formatDateTime(iso)}>
      {formatRelative(iso, now)}
    </time>
  );
}

function intervalText(seconds: number): string {
  return seconds % 60 === 0 ? `${seconds / 60} min` : `${seconds} s`;
}

/** One card per data source: its state, when it last succeeded, how far behind it is, its last error. */
export function SourceCards({
  status,
  sources,
}: {
  status: Resource<PipelineStatus>;
  sources: Resource<PipelineSources>;
}) {
  const list = status.data?.sources;
  const counts = new Map(sources.data?.results.map((s) => [s.id, s]) ?? []);
  const now = Date.now();
  return (
    <Section
      id="sources"
      title="Sources"
      count={list?.length}
      description="Where the world model's EHR data comes from: each connection's state, freshness and last error."
    >
      {status.error !== undefined && !status.data ? (
        <ErrorNotice error={status.error} title="Couldn't load the sources" onRetry={status.reload} />
      ) : !list ? (
        <Loading />
      ) : list.length === 0 ? (
        <div class="empty-state compact">
          <p class="empty-title">No data sources yet</p>
          <div class="empty-body">
            <p>
              Once an admin connects the clinic's EHR (a FHIR R4 server that Switchboard polls, or one that
              sends notifications), each connection's health shows here.
            </p>
          </div>
        </div>
      ) : (
        <ul class="source-cards">
          {list.map((source) => {
            const state = sourceState(source);
            const day = counts.get(source.id);
            return (
              <li key={source.id} class={`source-card${state.tone === "bad" ? " alert" : ""}`}>
                <div class="source-card-header">
                  <div>
                    <h3 class="source-name">{source.name}</h3>
                    <p class="muted small-text">
                      {source.type === "fhir_store"
                        ? `FHIR store, polled every ${intervalText(source.poll_interval_seconds)}`
                        : "FHIR notifications"}
                      {source.writeback ? " · write-back sink" : ""}
                    </p>
                  </div>
                  <Pill {...state} />
                </div>
                <dl class="source-facts">
                  <div>
                    <dt>Last success</dt>
                    <dd>
                      <When iso={source.last_success_at} now={now} never="Never" />
                    </dd>
                  </div>
                  <div>
                    <dt>Lag</dt>
                    <dd>{source.lag_seconds === null ? "–" : formatSeconds(source.lag_seconds)}</dd>
                  </div>
                  <div>
                    <dt>{source.type === "fhir_store" ? "Last poll" : "Last notification"}</dt>
                    <dd>
                      <When
                        iso={source.type === "fhir_store" ? source.last_poll_at : source.last_notification_at}
                        now={now}
                        never="Not yet"
                      />
                    </dd>
                  </div>
                  <div>
                    <dt>Last 24 h</dt>
                    <dd>
                      {day
                        ? `${day.last_24h.applied} applied · ${day.last_24h.failed} failed · ${day.last_24h.skipped} skipped`
                        : "–"}
                    </dd>
                  </div>
                </dl>
                {source.last_error && (
                  <p class="source-error">
                    <strong>Last error:</strong> {source.last_error}
                  </p>
                )}
              </li>
            );
          })}
        </ul>
      )}
    </Section>
  );
}
