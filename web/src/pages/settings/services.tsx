import { roleAtLeast } from "../../../../shared/auth/roles";
import { EmptyState } from "../../components/empty-state";
import { ErrorNotice } from "../../components/error-notice";
import { Loading } from "../../components/loading";
import { Section } from "../../components/section";
import { formatDate, titleCase } from "../../format";
import { useSession } from "../../session";
import type { ServicesState } from "../settings";

/** The lines the agent answers: persona, language and when it hands over to a person. */
export function ServicesSection({ state, onRetry }: { state: ServicesState; onRetry(): void }) {
  const { workspace } = useSession();
  return (
    <Section
      id="services"
      title="Services"
      count={state.status === "ready" ? state.services.length : undefined}
      description="Each service is a line the AI agent answers, with its own persona and escalation rules."
    >
      {state.status === "loading" && <Loading />}
      {state.status === "failed" && (
        <ErrorNotice error={state.error} title="Couldn't load services" onRetry={onRetry} />
      )}
      {state.status === "ready" && state.services.length === 0 && (
        <EmptyState title="No services yet" compact>
          {roleAtLeast(workspace.role, "admin") ? (
            <p>
              Create services through the API (<a href="/docs">API reference</a>); they appear here.
            </p>
          ) : (
            <p>An admin of this workspace sets up services.</p>
          )}
        </EmptyState>
      )}
      {state.status === "ready" && state.services.length > 0 && (
        <div class="table-scroll">
          <table class="table" aria-labelledby="services-title">
            <thead>
              <tr>
                <th scope="col">Service</th>
                <th scope="col">Agent</th>
                <th scope="col">Language</th>
                <th scope="col">Escalates to</th>
                <th scope="col" class="numeric">
                  Risk threshold
                </th>
                <th scope="col">Updated</th>
              </tr>
            </thead>
            <tbody>
              {state.services.map((service) => (
                <tr key={service.id}>
                  <td class="primary-cell">
                    <span class="cell-title">{service.name}</span>
                    {service.description && <span class="cell-sub">{service.description}</span>}
                  </td>
                  <td>
                    {service.persona.agent_name}
                    <span class="cell-sub">{titleCase(service.persona.tone)} tone</span>
                  </td>
                  <td>{service.persona.language}</td>
                  <td>
                    {titleCase(service.escalation_rules.operator_type)} operator
                    <span class="cell-sub">Otherwise {fallbackLabel(service.escalation_rules.fallback)}</span>
                  </td>
                  <td class="numeric">{service.escalation_rules.risk_threshold.toFixed(2)}</td>
                  <td class="nowrap">
                    <time dateTime={service.updated_at}>{formatDate(service.updated_at)}</time>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Section>
  );
}

function fallbackLabel(fallback: "forward" | "callback" | "continue"): string {
  switch (fallback) {
    case "forward":
      return "forwards the call";
    case "callback":
      return "schedules a callback";
    case "continue":
      return "the agent continues";
  }
}
