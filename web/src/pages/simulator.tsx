/**
 * The phone simulator: call one of the workspace's clinic numbers as a demo patient (or any number) and
 * talk to the agent by typing, over the real ConversationRelay protocol, watching the session's state,
 * risk and tool calls live. Simulated calls are real calls in the records, marked as simulated.
 */
import { useEffect, useId, useState } from "preact/hooks";
import { roleAtLeast } from "../../../shared/auth/roles";
import { api, workspacePath } from "../api";
import { EmptyState } from "../components/empty-state";
import { ErrorNotice } from "../components/error-notice";
import { Loading } from "../components/loading";
import { PageHeader } from "../components/page-header";
import { formatPhone } from "../format";
import { useDocumentTitle, usePagedList } from "../hooks";
import { useSession } from "../session";
import type { EntitySummary, PhoneNumber, Service } from "../types";
import { Conversation, SessionPanel } from "./simulator/live-panel";
import { useSimulatedCall } from "./simulator/use-simulated-call";

type CallerKind = "patient" | "number";

/** Demo patients by name, as the person types (two letters or more). */
function usePatientSearch(workspaceId: string, query: string) {
  const [state, setState] = useState<{ results: EntitySummary[]; loading: boolean; error: unknown }>({
    results: [],
    loading: false,
    error: null,
  });
  useEffect(() => {
    const q = query.trim();
    if (q.length < 2) {
      setState({ results: [], loading: false, error: null });
      return;
    }
    const controller = new AbortController();
    setState((s) => ({ ...s, loading: true, error: null }));
    const timer = window.setTimeout(() => {
      const params = new URLSearchParams({ q, entity_type: "patient", limit: "8" });
      api
        .get<{ results: EntitySummary[] }>(`${workspacePath(workspaceId, "world", "search")}?${params}`, {
          signal: controller.signal,
        })
        .then(
          (page) => setState({ results: page.results, loading: false, error: null }),
          (error: unknown) => {
            if (!controller.signal.aborted) setState({ results: [], loading: false, error });
          },
        );
    }, 250);
    return () => {
      window.clearTimeout(timer);
      controller.abort();
    };
  }, [workspaceId, query]);
  return state;
}

export function SimulatorPage() {
  const { workspace } = useSession();
  useDocumentTitle("Phone simulator", workspace.name);
  const canCall = roleAtLeast(workspace.role, "operator");
  const numbers = usePagedList<PhoneNumber>(workspacePath(workspace.id, "phone-numbers"));
  const services = usePagedList<Service>(workspacePath(workspace.id, "services"));
  const call = useSimulatedCall(workspace.id);

  const [to, setTo] = useState("");
  const [kind, setKind] = useState<CallerKind>("patient");
  const [query, setQuery] = useState("");
  const [patient, setPatient] = useState<EntitySummary | null>(null);
  const [callerNumber, setCallerNumber] = useState("");
  const search = usePatientSearch(workspace.id, kind === "patient" && !patient ? query : "");
  const ids = { to: useId(), query: useId(), number: useId() };

  const answering = numbers.items.filter((n) => n.service_id !== null);
  useEffect(() => {
    if (!to && answering[0]) setTo(answering[0].number);
  }, [to, answering]);
  const serviceName = (id: string | null) => services.items.find((s) => s.id === id)?.name;

  const ready = Boolean(to) && (kind === "patient" ? patient !== null : callerNumber.trim().length > 0);
  const start = (e: Event) => {
    e.preventDefault();
    if (!ready || !canCall) return;
    if (kind === "patient" && patient) void call.start(to, { patient_id: patient.id }, null);
    else void call.start(to, callerNumber.trim(), callerNumber.trim());
  };

  const inCall = call.phase === "connecting" || call.phase === "live" || call.phase === "ended";

  return (
    <>
      <PageHeader
        title="Phone simulator"
        description="Call a clinic number as a patient and talk to the agent by typing, over the same protocol as a real call. The call is recorded like a real one and marked as simulated."
      />
      {!inCall && (
        <form class="sim-setup" onSubmit={start} aria-label="Start a simulated call">
          {numbers.error !== undefined && (
            <ErrorNotice error={numbers.error} title="Couldn't load phone numbers" onRetry={numbers.reload} />
          )}
          {numbers.loading && numbers.items.length === 0 && <Loading />}
          {!numbers.loading && !numbers.error && answering.length === 0 && (
            <EmptyState title="No number to call" compact>
              <p>
                None of this workspace's phone numbers leads to a service yet. An admin maps numbers to
                services in Settings.
              </p>
            </EmptyState>
          )}
          {answering.length > 0 && (
            <>
              <div class="field">
                <label for={ids.to}>Clinic number</label>
                <select id={ids.to} value={to} onChange={(e) => setTo(e.currentTarget.value)}>
                  {answering.map((n) => (
                    <option key={n.id} value={n.number}>
                      {formatPhone(n.number)}
                      {n.label ? ` · ${n.label}` : ""}
                      {serviceName(n.service_id) && serviceName(n.service_id) !== n.label
                        ? ` · ${serviceName(n.service_id)}`
                        : ""}
                    </option>
                  ))}
                </select>
              </div>
              <fieldset class="sim-caller">
                <legend>Caller</legend>
                <label>
                  <input
                    type="radio"
                    name="caller-kind"
                    checked={kind === "patient"}
                    onChange={() => setKind("patient")}
                  />{" "}
                  A demo patient
                </label>
                <label>
                  <input
                    type="radio"
                    name="caller-kind"
                    checked={kind === "number"}
                    onChange={() => setKind("number")}
                  />{" "}
                  Any number
                </label>
              </fieldset>
              {kind === "patient" ? (
                <div class="field">
                  <label for={ids.query}>Patient</label>
                  {patient ? (
                    <p>
                      <strong>{patient.display_name ?? patient.id}</strong>{" "}
                      <button type="button" class="button ghost small" onClick={() => setPatient(null)}>
                        Change
                      </button>
                    </p>
                  ) : (
                    <>
                      <input
                        id={ids.query}
                        type="search"
                        value={query}
                        placeholder="Search by name"
                        autocomplete="off"
                        onInput={(e) => setQuery(e.currentTarget.value)}
                      />
                      <p class="hint">The call comes from the phone number the world model holds for them.</p>
                      {search.error !== null && (
                        <ErrorNotice error={search.error} title="Couldn't search patients" />
                      )}
                      {search.loading && <p class="muted small-text">Searching…</p>}
                      {!search.loading &&
                        query.trim().length >= 2 &&
                        search.results.length === 0 &&
                        !search.error && <p class="muted small-text">No patient matches “{query.trim()}”.</p>}
                      {search.results.length > 0 && (
                        <ul class="sim-results" aria-label="Matching patients">
                          {search.results.map((r) => (
                            <li key={r.id}>
                              <button
                                type="button"
                                class="button secondary small"
                                onClick={() => setPatient(r)}
                              >
                                {r.display_name ?? r.id}
                              </button>
                            </li>
                          ))}
                        </ul>
                      )}
                    </>
                  )}
                </div>
              ) : (
                <div class="field">
                  <label for={ids.number}>Caller's number</label>
                  <input
                    id={ids.number}
                    type="tel"
                    value={callerNumber}
                    placeholder="+1 415 555 0123"
                    autocomplete="off"
                    onInput={(e) => setCallerNumber(e.currentTarget.value)}
                  />
                </div>
              )}
              {call.error !== null && <ErrorNotice error={call.error} title="Couldn't start the call" />}
              {canCall ? (
                <div>
                  <button type="submit" class="button" disabled={!ready || call.phase === "starting"}>
                    {call.phase === "starting" ? "Starting…" : "Start call"}
                  </button>
                </div>
              ) : (
                <p class="notice info">
                  Starting a simulated call needs the operator role; you are a viewer in this workspace.
                </p>
              )}
            </>
          )}
        </form>
      )}
      {inCall && (
        <div class="sim-layout">
          <Conversation call={call} />
          <SessionPanel call={call} />
        </div>
      )}
    </>
  );
}
