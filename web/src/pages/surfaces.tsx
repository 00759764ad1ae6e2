import { useEffect, useId, useState } from "preact/hooks";
import { workspacePath } from "../api";
import { PageHeader } from "../components/page-header";
import { PagedListView } from "../components/paged-list-view";
import { Section } from "../components/section";
import { SelectFilter } from "../components/select-filter";
import { apiUrl, withQuery } from "../components/url-query";
import { formatDateTime, formatRelative } from "../format";
import { useDocumentTitle, usePagedList } from "../hooks";
import { Link, navigate, useLocation } from "../router";
import { useSession } from "../session";
import { SurfaceAnalyticsSections } from "./surfaces/analytics";
import { SurfacePreviewDialog } from "./surfaces/preview";
import {
  CHANNELS,
  channelLabel,
  STATUSES,
  SurfaceStatus,
  type SurfaceSummary,
  statusLabel,
} from "./surfaces/shared";

const PAGE = 25;
const ENTITY_ID = /^[a-z]{2,4}_[A-Za-z0-9_-]{8,43}$/;

/** Forms, uploads and signatures sent to patients: the list with filters, a preview of each, and analytics. */
export function SurfacesPage() {
  const { workspace } = useSession();
  useDocumentTitle("Surfaces", workspace.name);
  const { query } = useLocation();
  const status = query.get("status") ?? "";
  const channel = query.get("channel") ?? "";
  const entity = query.get("entity_id") ?? "";
  const open = query.get("surface");
  const list = usePagedList<SurfaceSummary>(
    apiUrl(workspacePath(workspace.id, "surfaces"), { status, channel, entity_id: entity }),
    PAGE,
  );
  const ids = { entity: useId() };
  const [patient, setPatient] = useState(entity);
  useEffect(() => setPatient(entity), [entity]);
  const setFilter = (changes: Record<string, string>) =>
    navigate(withQuery("/surfaces", query, { ...changes, surface: null }), { replace: true });
  const filtered = Boolean(status || channel || entity);
  const now = Date.now();

  return (
    <>
      <PageHeader
        title="Surfaces"
        description="Secure links sent to patients: forms, photo and file uploads, signatures."
      />
      <Section id="surface-list" title="Sent surfaces" count={list.loaded ? list.total : undefined}>
        <fieldset class="filters">
          <legend class="visually-hidden">Filters</legend>
          <SelectFilter
            label="Status"
            value={status}
            any="Any status"
            options={STATUSES.map((s) => ({ value: s, label: statusLabel(s) }))}
            onChange={(v) => setFilter({ status: v })}
          />
          <SelectFilter
            label="Channel"
            value={channel}
            any="Any channel"
            options={CHANNELS.map((c) => ({ value: c, label: channelLabel(c) }))}
            onChange={(v) => setFilter({ channel: v })}
          />
          <form
            class="field"
            onSubmit={(e) => {
              e.preventDefault();
              const value = patient.trim();
              if (value === "" || ENTITY_ID.test(value)) setFilter({ entity_id: value });
            }}
          >
            <label for={ids.entity}>Patient id</label>
            <input
              id={ids.entity}
              type="search"
              value={patient}
              placeholder="ent_…"
              pattern="[a-z]{2,4}_[A-Za-z0-9_\-]{8,43}"
              onInput={(e) => setPatient(e.currentTarget.value)}
            />
          </form>
        </fieldset>

        <PagedListView
          list={list}
          plural="surfaces"
          singular="surface"
          filtered={filtered}
          resetHref="/surfaces"
          emptyTitle="No surfaces sent yet"
          empty={
            <p>
              Surfaces appear here once an agent or operator sends one during or after a call, or the gap
              scanner asks a patient for something their record lacks, with their delivery status, whether the
              patient opened and completed them, and what they submitted.
            </p>
          }
        >
          {() => (
            <div class="table-scroll">
              <table class="table surfaces-table" aria-label="Surfaces" aria-busy={list.loading}>
                <thead>
                  <tr>
                    <th scope="col">Surface</th>
                    <th scope="col">Status</th>
                    <th scope="col">Channel</th>
                    <th scope="col">Patient</th>
                    <th scope="col" class="numeric">
                      Progress
                    </th>
                    <th scope="col">Expires</th>
                  </tr>
                </thead>
                <tbody>
                  {list.items.map((s) => (
                    <tr key={s.id} data-surface-id={s.id}>
                      <td class="primary-cell">
                        <Link href={withQuery("/surfaces", query, { surface: s.id })} class="cell-title">
                          {s.title}
                        </Link>
                        <span class="cell-sub">
                          Created{" "}
                          <time dateTime={s.created_at} title={formatDateTime(s.created_at)}>
                            {formatRelative(s.created_at, now)}
                          </time>{" "}
                          by {s.created_by.type}
                        </span>
                      </td>
                      <td>
                        <SurfaceStatus status={s.status} />
                      </td>
                      <td>{channelLabel(s.channel)}</td>
                      <td>
                        <Link href={withQuery("/surfaces", query, { entity_id: s.entity_id, surface: null })}>
                          <code>{s.entity_id}</code>
                        </Link>
                      </td>
                      <td class="numeric">
                        {s.answered_count}/{s.required_count}
                      </td>
                      <td class="nowrap">
                        <time dateTime={s.expires_at} title={formatDateTime(s.expires_at)}>
                          {formatRelative(s.expires_at, now)}
                        </time>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </PagedListView>
      </Section>
      <SurfaceAnalyticsSections />
      {open && (
        <SurfacePreviewDialog
          surfaceId={open}
          onClose={() => navigate(withQuery("/surfaces", query, { surface: null }), { replace: true })}
        />
      )}
    </>
  );
}
