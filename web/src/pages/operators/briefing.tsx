/**
 * The briefing an operator reads on opening a call (`GET /v1/{ws}/calls/{id}/briefing`): the situation,
 * the patient, the risk and what drives it, the key issues, what to do next, and prior interactions;
 * written by the model or rendered by rules, and it says which.
 */
import { workspacePath } from "../../api";
import { ErrorNotice } from "../../components/error-notice";
import { Loading } from "../../components/loading";
import { formatDate, formatDateTime } from "../../format";
import { useResource } from "../../hooks";
import type { Briefing } from "../../types";
import { stateLabel } from "../calls/shared";
import { formatClock, RiskBadge } from "./shared";

function List({ items, empty }: { items: readonly string[]; empty: string }) {
  if (items.length === 0) return <p class="muted small-text">{empty}</p>;
  return (
    <ul class="ops-brief-list">
      {items.map((item, i) => (
        <li key={i}>{item}</li>
      ))}
    </ul>
  );
}

function PatientFacts({ patient }: { patient: NonNullable<Briefing["patient"]> }) {
  const identity = [
    patient.age !== null ? `${patient.age} years` : null,
    patient.sex,
    patient.birth_date ? `born ${formatDate(patient.birth_date)}` : null,
  ].filter(Boolean);
  const rows: [string, readonly string[]][] = [
    ["Medications", patient.medications],
    ["Allergies", patient.allergies],
    ["Care plan", patient.care_plan],
    ["Recent labs", patient.recent_labs],
    ["Upcoming", patient.upcoming_appointments],
  ];
  return (
    <div class="ops-brief-block">
      <h3>Patient</h3>
      <p>
        <strong>{patient.name ?? "Name withheld"}</strong>{" "}
        {patient.verified ? (
          <span class="badge verified">Verified</span>
        ) : (
          <span class="badge unverified">Not verified</span>
        )}
      </p>
      {identity.length > 0 && <p class="muted small-text">{identity.join(" · ")}</p>}
      <p class="muted small-text">
        {patient.prior_calls} prior call{patient.prior_calls === 1 ? "" : "s"}
      </p>
      <dl class="ops-brief-facts">
        {rows.map(([label, items]) => (
          <div key={label}>
            <dt>{label}</dt>
            <dd>{items.length === 0 ? <span class="muted">None on record</span> : items.join("; ")}</dd>
          </div>
        ))}
      </dl>
    </div>
  );
}

export function BriefingPanel({ workspaceId, callId }: { workspaceId: string; callId: string }) {
  const briefing = useResource<Briefing>(workspacePath(workspaceId, "calls", callId, "briefing"));
  const b = briefing.data;
  return (
    <section class="ops-panel ops-briefing" aria-labelledby="ops-briefing-title" aria-busy={briefing.loading}>
      <div class="ops-panel-header">
        <h2 id="ops-briefing-title" class="ops-panel-title">
          Briefing
        </h2>
        {b && (
          <span class="badge" data-testid="briefing-source">
            {b.source === "model" ? "Written by the model" : "Rendered by rules"}
          </span>
        )}
        <button
          type="button"
          class="button ghost small"
          onClick={briefing.reload}
          disabled={briefing.loading}
          aria-label="Refresh the briefing"
        >
          Refresh
        </button>
      </div>
      {briefing.error && !b ? (
        <ErrorNotice
          error={briefing.error}
          title="Could not prepare the briefing"
          onRetry={briefing.reload}
        />
      ) : !b ? (
        <Loading label="Preparing the briefing" />
      ) : (
        <div class="ops-brief">
          <div class="ops-brief-block">
            <h3>Situation</h3>
            <p data-testid="briefing-summary">{b.situation.summary}</p>
            {b.situation.caller_need && (
              <p>
                <strong>Needs:</strong> {b.situation.caller_need}
              </p>
            )}
            <p class="muted small-text">
              {stateLabel(b.situation.state_id)} · {b.situation.turn_count} turns ·{" "}
              {formatClock(b.situation.duration_seconds * 1000)} on the line
            </p>
          </div>
          <div class="ops-brief-block">
            <h3>Risk</h3>
            <p>
              <RiskBadge level={b.risk.level} score={b.risk.score} />{" "}
              <span class="muted small-text">score {b.risk.score.toFixed(2)}</span>
            </p>
            <List items={b.risk.drivers} empty="Nothing drives the risk up." />
          </div>
          {b.patient ? (
            <PatientFacts patient={b.patient} />
          ) : (
            <div class="ops-brief-block">
              <h3>Patient</h3>
              <p class="muted">Not linked to a patient: the caller's number is unknown or not verified.</p>
            </div>
          )}
          <div class="ops-brief-block">
            <h3>Key issues</h3>
            <List items={b.key_issues} empty="None noted." />
          </div>
          <div class="ops-brief-block">
            <h3>Recommended next</h3>
            <List items={b.recommended_actions} empty="No recommendation." />
          </div>
          <div class="ops-brief-block">
            <h3>Prior interactions</h3>
            {b.prior_interactions.length === 0 ? (
              <p class="muted small-text">No earlier calls or messages.</p>
            ) : (
              <ul class="ops-brief-list">
                {b.prior_interactions.map((p) => (
                  <li key={`${p.at}-${p.channel}`}>
                    <time dateTime={p.at} class="muted small-text">
                      {formatDateTime(p.at)}
                    </time>{" "}
                    <span class="badge">{p.channel}</span> {p.summary}
                  </li>
                ))}
              </ul>
            )}
          </div>
          <p class="muted small-text">Prepared {formatDateTime(b.generated_at)}.</p>
        </div>
      )}
    </section>
  );
}
