import type { ComponentChildren } from "preact";
import { isApiError, workspacePath } from "../../api";
import { EmptyState } from "../../components/empty-state";
import { ErrorNotice } from "../../components/error-notice";
import { describeValue, factDetail, factLabel, scalarText, word } from "../../components/fact-format";
import { Loading } from "../../components/loading";
import { ConfidenceBadge } from "../../components/world-badges";
import { formatDate, formatDateTime, formatRelative } from "../../format";
import { useResource } from "../../hooks";
import { useSession } from "../../session";
import type { PatientMemory } from "../../types";

/**
 * The compact patient model (memory L3) exactly as an agent reads it at the start of a call: identity
 * with what is verified, safety facts whatever their confidence, what is active, open tasks, the last
 * interactions, and the patterns learned from them (L2).
 */
export function MemoryPanel({ entityId }: { entityId: string }) {
  const { workspace } = useSession();
  const memory = useResource<PatientMemory>(
    workspacePath(workspace.id, "world", "entities", entityId, "memory"),
  );
  if (memory.error !== undefined && !memory.data) {
    if (isApiError(memory.error, "not_found")) {
      return (
        <EmptyState title="No memory summary for this record" compact>
          <p>
            Switchboard keeps a memory summary for patients it can resolve. This one has none yet, or this
            workspace's API does not provide it.
          </p>
        </EmptyState>
      );
    }
    return (
      <ErrorNotice error={memory.error} title="Couldn't load the memory summary" onRetry={memory.reload} />
    );
  }
  if (!memory.data) return <Loading label="Loading the memory summary…" />;
  const m = memory.data;
  const id = m.identity;
  const preferences = Object.entries(m.preferences);

  return (
    <div class="memory">
      <p class="muted">What an agent reads about this patient at the start of every call.</p>
      <div class="memory-grid">
        <MemoryCard title="Identity" id="memory-identity">
          <dl class="memory-identity">
            <IdentityRow label="Name" value={id.display_name} verified={id.verified.name} />
            {id.preferred_name && <IdentityRow label="Goes by" value={id.preferred_name} />}
            <IdentityRow
              label="Date of birth"
              value={id.birth_date && scalarText(id.birth_date)}
              verified={id.verified.birth_date}
            />
            {id.gender && <IdentityRow label="Gender" value={word(id.gender)} />}
            <IdentityRow
              label="Phone"
              value={id.phone && scalarText(id.phone)}
              verified={id.verified.phone}
            />
            <IdentityRow label="Email" value={id.email} verified={id.verified.email} />
            {id.external_ids.length > 0 && (
              <IdentityRow label="External ids" value={id.external_ids.join(", ")} mono />
            )}
          </dl>
        </MemoryCard>

        <MemoryCard title="Safety" id="memory-safety" alert={m.safety.length > 0}>
          {m.safety.length === 0 ? (
            <p class="muted">No allergies or safety flags recorded.</p>
          ) : (
            <ul class="plain-list">
              {m.safety.map((s) => (
                <li key={s.path}>
                  <strong>{factLabel(s.path, s.value)}</strong>{" "}
                  <span class="muted">{factDetail(s.path, s.value)}</span>{" "}
                  <ConfidenceBadge confidence={s.confidence} />
                  {!s.verified && <span class="badge unverified">Unverified</span>}
                </li>
              ))}
            </ul>
          )}
        </MemoryCard>

        <ScoredList
          title="Active medications"
          id="memory-medications"
          prefix="medications"
          items={m.medications}
        />
        <ScoredList title="Conditions" id="memory-conditions" prefix="conditions" items={m.conditions} />
        <ScoredList title="Coverage" id="memory-coverage" prefix="coverage" items={m.coverage} />

        <MemoryCard title="Preferences" id="memory-preferences">
          {preferences.length === 0 ? (
            <p class="muted">None recorded.</p>
          ) : (
            <dl class="memory-pairs">
              {preferences.map(([key, p]) => (
                <div key={key}>
                  <dt>{factLabel(`preferences.${key}`)}</dt>
                  <dd>
                    {scalarText(p.value, key)} <ConfidenceBadge confidence={p.confidence} />
                  </dd>
                </div>
              ))}
            </dl>
          )}
        </MemoryCard>

        <MemoryCard title="Open tasks" id="memory-tasks">
          {m.open_tasks.length === 0 ? (
            <p class="muted">No open tasks.</p>
          ) : (
            <ul class="plain-list">
              {m.open_tasks.map((t) => (
                <li key={t.task_id}>
                  <strong>{word(t.kind)}</strong> due{" "}
                  <time dateTime={t.due_at} title={formatDateTime(t.due_at)}>
                    {formatDate(t.due_at)}
                  </time>
                  {t.note && <span class="muted"> · {t.note}</span>}
                </li>
              ))}
            </ul>
          )}
        </MemoryCard>

        <MemoryCard title="Patterns" id="memory-patterns">
          <Patterns memory={m} />
        </MemoryCard>

        <MemoryCard title="Recent interactions" id="memory-interactions" wide>
          {m.recent_interactions.length === 0 ? (
            <p class="muted">No interactions yet.</p>
          ) : (
            <ul class="plain-list interactions">
              {m.recent_interactions.map((i) => (
                <li key={i.interaction_id}>
                  <time dateTime={i.occurred_at} title={formatDateTime(i.occurred_at)}>
                    {formatDate(i.occurred_at)}
                  </time>{" "}
                  <span class="muted">
                    {word(i.channel)}, {i.direction}
                  </span>
                  {i.summary && <> · {i.summary}</>}
                </li>
              ))}
            </ul>
          )}
        </MemoryCard>
      </div>
    </div>
  );
}

function MemoryCard({
  title,
  id,
  alert = false,
  wide = false,
  children,
}: {
  title: string;
  id: string;
  alert?: boolean;
  wide?: boolean;
  children: ComponentChildren;
}) {
  return (
    <section class={`memory-card${alert ? " alert" : ""}${wide ? " wide" : ""}`} aria-labelledby={id}>
      <h2 id={id} class="card-title">
        {title}
      </h2>
      {children}
    </section>
  );
}

function IdentityRow({
  label,
  value,
  verified,
  mono = false,
}: {
  label: string;
  value: string | null;
  verified?: boolean;
  mono?: boolean;
}) {
  return (
    <div>
      <dt>{label}</dt>
      <dd>
        {value ? (
          <span class={mono ? "mono small-text" : undefined}>{value}</span>
        ) : (
          <span class="muted">Unknown</span>
        )}
        {value && verified !== undefined && (
          <span class={`badge ${verified ? "verified" : "unverified"}`}>
            {verified ? "Verified" : "Unverified"}
          </span>
        )}
      </dd>
    </div>
  );
}

function ScoredList({
  title,
  id,
  prefix,
  items,
}: {
  title: string;
  id: string;
  prefix: string;
  items: { value: unknown; confidence: number }[];
}) {
  return (
    <MemoryCard title={title} id={id}>
      {items.length === 0 ? (
        <p class="muted">None recorded.</p>
      ) : (
        <ul class="plain-list">
          {items.map((item, i) => (
            <li key={i}>
              {describeValue(`${prefix}.item`, item.value)} <ConfidenceBadge confidence={item.confidence} />
            </li>
          ))}
        </ul>
      )}
    </MemoryCard>
  );
}

/** The L2 patterns in sentences, each with the evidence it rests on. */
function Patterns({ memory }: { memory: PatientMemory }) {
  const p = memory.patterns;
  if (!p || p.interactions === 0) return <p class="muted">Not enough interactions to see patterns yet.</p>;
  const lines: ComponentChildren[] = [];
  if (p.contact_time) {
    lines.push(
      <>
        Usually reachable in the <strong>{p.contact_time.bucket}</strong>{" "}
        <span class="muted">
          ({p.contact_time.support} of {p.contact_time.total} contacts, {p.contact_time.time_zone})
        </span>
      </>,
    );
  }
  if (p.channel?.preferred) {
    lines.push(
      <>
        Prefers <strong>{word(p.channel.preferred)}</strong>{" "}
        <span class="muted">
          ({p.channel.support} {p.channel.support === 1 ? "contact" : "contacts"} they started or answered)
        </span>
      </>,
    );
  }
  for (const a of p.adherence) {
    lines.push(
      <>
        {word(a.topic)} about every <strong>{Math.round(a.median_interval_days)} days</strong>; next expected{" "}
        <time dateTime={a.next_expected_at}>{formatDate(a.next_expected_at)}</time>{" "}
        <span class="muted">({a.support} times)</span>
      </>,
    );
  }
  for (const c of p.concerns) {
    lines.push(
      <>
        Keeps raising <strong>{word(c.topic).toLowerCase()}</strong>{" "}
        <span class="muted">
          ({c.support} times, last {formatRelative(c.last_at)})
        </span>
      </>,
    );
  }
  return (
    <>
      <p class="muted small-text">
        From {p.interactions} {p.interactions === 1 ? "interaction" : "interactions"}
        {memory.patterns_computed_at ? `, computed ${formatRelative(memory.patterns_computed_at)}` : ""}.
      </p>
      {lines.length === 0 ? (
        <p class="muted">No pattern stands out yet.</p>
      ) : (
        <ul class="plain-list">
          {lines.map((line, i) => (
            <li key={i}>{line}</li>
          ))}
        </ul>
      )}
    </>
  );
}
