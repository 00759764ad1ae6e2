import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { roleAtLeast } from "../../../../shared/auth/roles";
import { api, isApiError, workspacePath } from "../../api";
import { ErrorNotice } from "../../components/error-notice";
import { describeValue, factTitle, scalarText, word } from "../../components/fact-format";
import { Loading } from "../../components/loading";
import { ConfidenceBadge, formatConfidence, PriorityBadge, SourceBadge } from "../../components/world-badges";
import { formatDateTime, formatRelative } from "../../format";
import { useResource } from "../../hooks";
import { Link } from "../../router";
import { useSession } from "../../session";
import type { EntityDetail, InteractionMemories, ReviewDiff, ReviewItem, ReviewStatus } from "../../types";
import { CorrectForm, RejectForm } from "./decision-forms";
import { PRIORITY_HINTS, verdictReasons, verdictSummary } from "./verdict";

/** What the page's keyboard shortcuts can ask of the open item. */
export interface DetailHandle {
  approve(): void;
  correct(): void;
  reject(): void;
  claim(): void;
}

type Mode = "view" | "correct" | "reject";
type Outcome = Exclude<ReviewStatus, "pending">;

export function claimIsLive(item: Pick<ReviewItem, "claimed_by" | "claim_expires_at">, now = Date.now()) {
  return (
    item.claimed_by !== null && item.claim_expires_at !== null && Date.parse(item.claim_expires_at) > now
  );
}

const time = (iso: string) =>
  new Date(iso).toLocaleTimeString(undefined, { hour: "numeric", minute: "2-digit" });

/**
 * One review item: what was proposed against what the record holds now, the judge's verdict in words,
 * the caller's words as evidence, and (for operators) claim, approve, correct and reject.
 */
export function ReviewDetail({
  id,
  handle,
  focusOnLoad,
  onDecided,
  onClaimChanged,
}: {
  id: string;
  handle: { current: DetailHandle | null };
  focusOnLoad: boolean;
  onDecided(id: string, outcome: Outcome): void;
  onClaimChanged(message: string): void;
}) {
  const { session, workspace } = useSession();
  const canAct = roleAtLeast(workspace.role, "operator");
  const overridesClaims = roleAtLeast(workspace.role, "admin");
  const diff = useResource<ReviewDiff>(workspacePath(workspace.id, "review", id));
  const [mode, setMode] = useState<Mode>("view");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const title = useRef<HTMLHeadingElement>(null);

  const loaded = diff.data?.item.id === id;
  useEffect(() => {
    if (loaded && focusOnLoad) title.current?.focus();
  }, [loaded, focusOnLoad]);

  const item = loaded ? diff.data!.item : null;
  const pending = item?.status === "pending";
  const mine = item?.claimed_by === session.user.id && claimIsLive(item);
  const heldByOther = item !== null && claimIsLive(item) && !mine;
  const mayDecide = canAct && pending && (!heldByOther || overridesClaims);
  const isFact = item?.kind === "fact";

  const run = async (action: () => Promise<void>) => {
    setBusy(true);
    setError(null);
    try {
      await action();
    } catch (failure) {
      setError(failure);
      // A conflict means the item changed under us: show it as it is now.
      if (isApiError(failure, "conflict")) diff.reload();
    } finally {
      setBusy(false);
    }
  };
  const post = (action: string, body?: unknown) =>
    api.post<ReviewItem>(workspacePath(workspace.id, "review", id, action), body);

  const approve = () =>
    run(async () => {
      await post("approve");
      onDecided(id, "approved");
    });
  const correct = (value: unknown) =>
    run(async () => {
      await post("correct", { value });
      onDecided(id, "corrected");
    });
  const reject = (reason: string) =>
    run(async () => {
      await post("reject", { reason });
      onDecided(id, "rejected");
    });
  const toggleClaim = () =>
    run(async () => {
      await post(mine || (heldByOther && overridesClaims) ? "unclaim" : "claim");
      diff.reload();
      onClaimChanged(mine || heldByOther ? "Claim released." : "Claimed for 30 minutes.");
    });

  // The shortcuts do what the buttons on screen would, and nothing when there is no such button.
  const ready = mayDecide && !busy && mode === "view";
  handle.current = {
    approve() {
      if (ready) void approve();
    },
    correct() {
      if (ready && isFact) setMode("correct");
    },
    reject() {
      if (ready) setMode("reject");
    },
    claim() {
      if (canAct && pending && !busy && (!heldByOther || overridesClaims)) void toggleClaim();
    },
  };

  if (diff.error !== undefined && !loaded) {
    return (
      <ErrorNotice
        error={diff.error}
        title={
          isApiError(diff.error, "not_found") ? "This review item doesn't exist" : "Couldn't load the item"
        }
        onRetry={isApiError(diff.error, "not_found") ? undefined : diff.reload}
      />
    );
  }
  if (!loaded || !item) return <Loading label="Loading the item…" />;
  const d = diff.data!;
  const patient = d.entity.display_name ?? "Unnamed record";

  return (
    <article class="review-item" aria-labelledby="review-item-title" aria-busy={diff.loading}>
      <header class="review-item-header">
        <p class="review-item-meta">
          <PriorityBadge priority={item.priority} />
          <span class={`badge review-status status-${item.status}`}>{word(item.status)}</span>
          <span class="muted">
            queued{" "}
            <time dateTime={item.created_at} title={formatDateTime(item.created_at)}>
              {formatRelative(item.created_at)}
            </time>
          </span>
        </p>
        <h2 id="review-item-title" class="review-item-title" ref={title} tabIndex={-1}>
          {item.path ? factTitle(item.path, d.proposed?.value) : "Possible duplicate record"}
        </h2>
        <p>
          Patient: <Link href={`/world/${encodeURIComponent(d.entity.id)}`}>{patient}</Link>
          {d.entity.merged_into && <span class="muted"> (since merged into another record)</span>}
        </p>
        <p class="muted small-text">{PRIORITY_HINTS[item.priority]}</p>
      </header>

      {pending ? (
        <ClaimLine
          item={item}
          mine={mine}
          heldByOther={heldByOther}
          canAct={canAct}
          overridesClaims={overridesClaims}
          busy={busy}
          onToggle={toggleClaim}
        />
      ) : (
        <DecisionLine diff={d} mine={item.decided_by === session.user.id} />
      )}

      {isFact ? <FactDiff diff={d} /> : <MatchDiff diff={d} />}

      {error !== null && mode === "view" && <ErrorNotice error={error} title="That didn't go through" />}

      {canAct && pending && mode === "view" && (
        <div class="decision-bar">
          <button
            type="button"
            class="button"
            onClick={approve}
            disabled={!mayDecide || busy}
            aria-keyshortcuts="a"
          >
            {isFact ? "Approve" : "Same patient: merge"}{" "}
            <span class="kbd" aria-hidden="true">
              A
            </span>
          </button>
          {isFact && (
            <button
              type="button"
              class="button secondary"
              onClick={() => setMode("correct")}
              disabled={!mayDecide || busy}
              aria-keyshortcuts="c"
            >
              Correct…{" "}
              <span class="kbd" aria-hidden="true">
                C
              </span>
            </button>
          )}
          <button
            type="button"
            class="button danger-outline"
            onClick={() => setMode("reject")}
            disabled={!mayDecide || busy}
            aria-keyshortcuts="r"
          >
            {isFact ? "Reject…" : "Different patients…"}{" "}
            <span class="kbd" aria-hidden="true">
              R
            </span>
          </button>
        </div>
      )}
      {mode === "correct" && d.proposed && item.path && (
        <CorrectForm
          path={item.path}
          proposed={d.proposed.value}
          busy={busy}
          error={error}
          onSubmit={correct}
          onCancel={() => {
            setError(null);
            setMode("view");
          }}
        />
      )}
      {mode === "reject" && (
        <RejectForm
          busy={busy}
          error={error}
          title={isFact ? "Reject this proposal" : "Keep these records apart"}
          submitLabel={isFact ? "Reject" : "Keep apart"}
          onSubmit={reject}
          onCancel={() => {
            setError(null);
            setMode("view");
          }}
        />
      )}
    </article>
  );
}

function ClaimLine({
  item,
  mine,
  heldByOther,
  canAct,
  overridesClaims,
  busy,
  onToggle,
}: {
  item: ReviewItem;
  mine: boolean;
  heldByOther: boolean;
  canAct: boolean;
  overridesClaims: boolean;
  busy: boolean;
  onToggle(): void;
}) {
  const until = item.claim_expires_at ? time(item.claim_expires_at) : "";
  let text: ComponentChildren;
  let button: string | null = null;
  if (mine) {
    text = <>Claimed by you until {until}.</>;
    button = "Release claim";
  } else if (heldByOther) {
    text = overridesClaims ? (
      <>Claimed by another reviewer until {until}. As an admin you can still release or decide it.</>
    ) : (
      <>Claimed by another reviewer until {until}. Only they can decide it until then.</>
    );
    button = overridesClaims ? "Release their claim" : null;
  } else {
    text = canAct ? (
      <>Unclaimed. Claim it to keep it yours for 30 minutes while you look into it.</>
    ) : (
      <>Unclaimed.</>
    );
    button = "Claim";
  }
  return (
    <div class={`claim-line${mine ? " mine" : heldByOther ? " held" : ""}`}>
      <p role="status">{text}</p>
      {canAct && button && (
        <button type="button" class="button secondary small" onClick={onToggle} disabled={busy}>
          {button}
          {button === "Claim" && (
            <span class="kbd" aria-hidden="true">
              L
            </span>
          )}
        </button>
      )}
    </div>
  );
}

function DecisionLine({ diff, mine }: { diff: ReviewDiff; mine: boolean }) {
  const { item } = diff;
  return (
    <div class={`decision-line status-${item.status}`}>
      <p>
        <strong>{word(item.status)}</strong> by {mine ? "you" : "another reviewer"}
        {item.decided_at && (
          <>
            {" "}
            <time dateTime={item.decided_at} title={formatDateTime(item.decided_at)}>
              {formatRelative(item.decided_at).replace(/^now$/, "just now")}
            </time>
          </>
        )}
        .
      </p>
      {diff.rejection_reason && <p>Reason: “{diff.rejection_reason}”</p>}
    </div>
  );
}

function FactDiff({ diff }: { diff: ReviewDiff }) {
  const path = diff.item.path;
  const { proposed, current, verdict, evidence } = diff;
  return (
    <>
      <div class="diff">
        <section class="diff-side proposed" aria-labelledby="diff-proposed">
          <h3 id="diff-proposed">Proposed</h3>
          <p class="diff-value">{proposed ? describeValue(path, proposed.value) : "—"}</p>
          {evidence?.interaction_id && (
            <p class="muted small-text">
              From conversation <span class="mono">{evidence.interaction_id}</span>
            </p>
          )}
        </section>
        <section class="diff-side current" aria-labelledby="diff-current">
          <h3 id="diff-current">In the record now</h3>
          {!current ? (
            <p class="diff-value muted">Nothing yet: this would be a new fact.</p>
          ) : (
            <>
              <p class="diff-value">{describeValue(path, current.value)}</p>
              <p class="diff-badges">
                <ConfidenceBadge confidence={current.confidence} />
                <SourceBadge source={current.source} />
              </p>
              <p class="muted small-text">
                {current.from_this_proposal
                  ? diff.item.status === "pending"
                    ? "This is the proposal itself, held provisionally until someone decides."
                    : "This is the decision on this item."
                  : `Recorded ${formatRelative(current.effective_at)}.`}
              </p>
            </>
          )}
        </section>
      </div>
      {verdict && (
        <section class="verdict" aria-labelledby="verdict-title">
          <h3 id="verdict-title">
            The judge's verdict{" "}
            <span class={`badge ${verdict.verified ? "verified" : "unverified"}`}>
              {verdict.verified ? "Verified" : "Not verified"}
            </span>
          </h3>
          <p>{verdictSummary(verdict, diff.item.status === "pending")}</p>
          <ul>
            {verdictReasons(diff).map((reason) => (
              <li key={reason}>{reason}</li>
            ))}
          </ul>
        </section>
      )}
      {evidence && <Evidence diff={diff} />}
    </>
  );
}

/** The caller's matched words, and the call's transcript when Switchboard stored one. */
function Evidence({ diff }: { diff: ReviewDiff }) {
  const { workspace } = useSession();
  const evidence = diff.evidence!;
  const transcript = useResource<InteractionMemories>(
    evidence.interaction_id
      ? workspacePath(
          workspace.id,
          "world",
          "entities",
          diff.entity.id,
          "memory",
          "interactions",
          evidence.interaction_id,
        )
      : null,
  );
  const turns = transcript.data?.transcript ?? null;
  return (
    <section class="evidence" aria-labelledby="evidence-title">
      <h3 id="evidence-title">Evidence</h3>
      {evidence.caller_words ? (
        <p>
          The caller said: <span class="caller-words">“{evidence.caller_words}”</span>
        </p>
      ) : (
        <p class="muted">No words of the caller support this value.</p>
      )}
      {turns && turns.length > 0 ? (
        <details class="disclosure">
          <summary>Transcript ({turns.length} turns)</summary>
          <ol class="transcript">
            {turns.map((turn, i) => (
              <li key={i} class={`turn ${turn.speaker}`}>
                <span class="speaker">{word(turn.speaker)}</span>
                <span>
                  <Marked text={turn.text} words={turn.speaker === "caller" ? evidence.caller_words : null} />
                </span>
              </li>
            ))}
          </ol>
        </details>
      ) : (
        !transcript.loading && (
          <p class="muted small-text">
            {!evidence.interaction_id
              ? "This proposal did not come from a conversation."
              : evidence.caller_words
                ? "The transcript of this conversation was not stored, so only the matched words are shown."
                : "The transcript of this conversation was not stored."}
          </p>
        )
      )}
    </section>
  );
}

function Marked({ text, words }: { text: string; words: string | null }) {
  if (!words) return <>{text}</>;
  const at = text.toLowerCase().indexOf(words.toLowerCase());
  if (at === -1) return <>{text}</>;
  return (
    <>
      {text.slice(0, at)}
      <mark>{text.slice(at, at + words.length)}</mark>
      {text.slice(at + words.length)}
    </>
  );
}

const COMPARED = [
  ["Date of birth", "demographics.birth_date"],
  ["Gender", "demographics.gender"],
  ["Phone", "contact.phone"],
  ["Email", "contact.email"],
  ["Address", "contact.address"],
  ["EHR id", "identifiers.ehr-patient"],
] as const;

/** Two records side by side, the identifying facts that matched marked. */
function MatchDiff({ diff }: { diff: ReviewDiff }) {
  const { workspace } = useSession();
  const candidate = diff.candidate;
  const left = useResource<EntityDetail>(workspacePath(workspace.id, "world", "entities", diff.entity.id));
  const right = useResource<EntityDetail>(
    candidate ? workspacePath(workspace.id, "world", "entities", candidate.id) : null,
  );
  if (!candidate) return null;
  // Identifiers are keyed by system and value (`identifiers.ehr-patient.<id>`): match the system's prefix.
  const factOf = (record: EntityDetail | undefined, path: string) =>
    record?.facts.find((f) => f.path === path || f.path.startsWith(`${path}.`))?.value;
  const matched = new Set(candidate.matched_on);
  return (
    <>
      <p>
        These records match with confidence <strong>{formatConfidence(candidate.match_confidence)}</strong> on{" "}
        {candidate.matched_on.map((m) => word(m).toLowerCase()).join(" and ")}: close, but not enough to merge
        without a person. Approving merges them (the older record is kept); rejecting keeps them apart. Rows
        in green hold the same value in both records.
      </p>
      <div class="table-scroll">
        <table class="table match-table">
          <thead>
            <tr>
              <th scope="col" class="match-fact">
                <span class="visually-hidden">Fact</span>
              </th>
              <th scope="col" class="match-record">
                <Link href={`/world/${encodeURIComponent(diff.entity.id)}`}>
                  {diff.entity.display_name ?? "Unnamed"}
                </Link>
              </th>
              <th scope="col" class="match-record">
                <Link href={`/world/${encodeURIComponent(candidate.id)}`}>
                  {candidate.display_name ?? "Unnamed"}
                </Link>
              </th>
            </tr>
          </thead>
          <tbody>
            {COMPARED.map(([label, path]) => {
              const a = factOf(left.data, path);
              const b = factOf(right.data, path);
              const key = path.split(".")[1]!;
              const same =
                a !== undefined &&
                b !== undefined &&
                JSON.stringify(a).toLowerCase() === JSON.stringify(b).toLowerCase();
              return (
                <tr key={path} class={same || matched.has(key) ? "match" : undefined}>
                  <th scope="row">
                    {label}
                    {(same || matched.has(key)) && <span class="visually-hidden"> (the same in both)</span>}
                  </th>
                  <td class="match-value">
                    {a === undefined ? <span class="muted">—</span> : scalarOrText(path, a)}
                  </td>
                  <td class="match-value">
                    {b === undefined ? <span class="muted">—</span> : scalarOrText(path, b)}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </>
  );
}

const scalarOrText = (path: string, value: unknown) =>
  typeof value === "object" ? describeValue(path, value) : scalarText(value, path.split(".")[1]);
