import { useEffect, useState } from "preact/hooks";
import type { Bucket } from "../../../shared/schemas/pipeline";
import { workspacePath } from "../api";
import { ErrorNotice } from "../components/error-notice";
import { Loading } from "../components/loading";
import { PageHeader } from "../components/page-header";
import { Section } from "../components/section";
import { apiUrl } from "../components/url-query";
import { formatDateTime } from "../format";
import { useDocumentTitle, useResource } from "../hooks";
import { useSession } from "../session";
import type { ReviewStats } from "../types";
import {
  type EntityResolution,
  OverallPill,
  type PipelineSources,
  PipelineStats,
  type PipelineStatus,
  SourceCards,
  StatusNotice,
} from "./pipeline/health";
import { SyncTable } from "./pipeline/sync-table";
import { type Throughput, ThroughputChart } from "./pipeline/throughput-chart";

/** How often the page refreshes its figures while it is visible. */
const REFRESH_MS = 60_000;

const WINDOWS: { bucket: Bucket; label: string }[] = [
  { bucket: "hour", label: "24 hours" },
  { bucket: "day", label: "30 days" },
];

/**
 * Is data flowing between the EHR and Switchboard? The overall status and its reasons, the day's
 * figures, each source's health, world events over time, and the outbound sync log with retries.
 * Every figure comes from Switchboard's own records, so the page still answers while the EHR is down.
 */
export function PipelinePage() {
  const { workspace } = useSession();
  useDocumentTitle("Pipeline", workspace.name);
  const path = (...segments: string[]) => workspacePath(workspace.id, "pipeline", ...segments);
  const status = useResource<PipelineStatus>(path("status"));
  const sources = useResource<PipelineSources>(path("sources"));
  const merges = useResource<EntityResolution>(path("entity-resolution"));
  const review = useResource<ReviewStats>(path("review"));
  const [bucket, setBucket] = useState<Bucket>("hour");
  const throughput = useResource<Throughput>(apiUrl(path("throughput"), { bucket }));

  const reloadAll = () => {
    status.reload();
    sources.reload();
    merges.reload();
    review.reload();
    throughput.reload();
  };

  useEffect(() => {
    const timer = setInterval(() => {
      if (document.visibilityState === "visible") reloadAll();
    }, REFRESH_MS);
    return () => clearInterval(timer);
  });

  return (
    <>
      <PageHeader
        title="Pipeline"
        description="Data between the EHR and Switchboard: sources, throughput and write-backs."
        actions={
          <>
            {status.data && <OverallPill status={status.data.status} />}
            <button
              type="button"
              class="button secondary small"
              onClick={reloadAll}
              disabled={status.loading}
            >
              {status.loading ? "Refreshing…" : "Refresh"}
            </button>
          </>
        }
      />
      {status.error !== undefined && (
        <ErrorNotice error={status.error} title="Couldn't load the pipeline status" onRetry={status.reload} />
      )}
      {status.data && <StatusNotice status={status.data} />}
      <PipelineStats status={status.data} merges={merges} review={review} />
      <SourceCards status={status} sources={sources} />
      <Section
        id="throughput"
        title="Throughput"
        description="World events recorded per hour or day, by where they came from."
        actions={
          <fieldset class="segmented">
            <legend class="visually-hidden">Window</legend>
            {WINDOWS.map((w) => (
              <button
                key={w.bucket}
                type="button"
                class="button secondary small"
                aria-pressed={bucket === w.bucket}
                onClick={() => setBucket(w.bucket)}
              >
                {w.label}
              </button>
            ))}
          </fieldset>
        }
      >
        {throughput.error !== undefined && !throughput.data ? (
          <ErrorNotice
            error={throughput.error}
            title="Couldn't load throughput"
            onRetry={throughput.reload}
          />
        ) : throughput.data && throughput.data.bucket === bucket ? (
          <ThroughputChart data={throughput.data} />
        ) : (
          <Loading />
        )}
      </Section>
      <SyncTable onChanged={reloadAll} />
      {status.data && (
        <p class="muted small-text">
          Checked {formatDateTime(status.data.checked_at)}; refreshes every minute while open.
        </p>
      )}
    </>
  );
}
