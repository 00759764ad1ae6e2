import { roleAtLeast } from "../../../../shared/auth/roles";
import { workspacePath } from "../../api";
import { EmptyState } from "../../components/empty-state";
import { ErrorNotice } from "../../components/error-notice";
import { Loading } from "../../components/loading";
import { LoadMore, Section } from "../../components/section";
import { formatDate, formatPhone } from "../../format";
import { usePagedList } from "../../hooks";
import { useSession } from "../../session";
import type { PhoneNumber } from "../../types";
import type { ServicesState } from "../settings";

/** Numbers callers dial, and the service each one rings. */
export function PhoneNumbersSection({ services }: { services: ServicesState }) {
  const { workspace } = useSession();
  const numbers = usePagedList<PhoneNumber>(workspacePath(workspace.id, "phone-numbers"));

  const serviceName = (serviceId: string | null) => {
    if (serviceId === null) return <span class="muted">Not assigned</span>;
    if (services.status !== "ready") return <span class="muted">…</span>;
    const service = services.services.find((s) => s.id === serviceId);
    return service ? service.name : <span class="mono muted">{serviceId}</span>;
  };

  return (
    <Section
      id="phone-numbers"
      title="Phone numbers"
      count={numbers.loading && numbers.items.length === 0 ? undefined : numbers.total}
      description="Calls to these numbers are answered by the service they map to."
    >
      {numbers.error !== undefined && (
        <ErrorNotice error={numbers.error} title="Couldn't load phone numbers" onRetry={numbers.reload} />
      )}
      {numbers.loading && numbers.items.length === 0 && <Loading />}
      {!numbers.loading && !numbers.error && numbers.items.length === 0 && (
        <EmptyState title="No phone numbers yet" compact>
          {roleAtLeast(workspace.role, "admin") ? (
            <p>
              Add numbers through the API (<a href="/docs">API reference</a>) and map each to a service.
            </p>
          ) : (
            <p>An admin of this workspace adds the numbers callers dial.</p>
          )}
        </EmptyState>
      )}
      {numbers.items.length > 0 && (
        <div class="table-scroll">
          <table class="table" aria-labelledby="phone-numbers-title">
            <thead>
              <tr>
                <th scope="col">Number</th>
                <th scope="col">Label</th>
                <th scope="col">Service</th>
                <th scope="col">Added</th>
              </tr>
            </thead>
            <tbody>
              {numbers.items.map((number) => (
                <tr key={number.id}>
                  <td class="nowrap">
                    <span title={number.number}>{formatPhone(number.number)}</span>
                  </td>
                  <td>{number.label || <span class="muted">None</span>}</td>
                  <td>{serviceName(number.service_id)}</td>
                  <td class="nowrap">
                    <time dateTime={number.created_at}>{formatDate(number.created_at)}</time>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {numbers.hasMore && (
        <LoadMore
          shown={numbers.items.length}
          total={numbers.total}
          loading={numbers.loading}
          onLoadMore={numbers.loadMore}
        />
      )}
    </Section>
  );
}
