import { EmptyState } from "../components/empty-state";
import { PageHeader } from "../components/page-header";
import { useDocumentTitle } from "../hooks";
import { useSession } from "../session";

/** Operator presence and workload. */
export function OperatorsPage() {
  const { workspace } = useSession();
  useDocumentTitle("Operators", workspace.name);
  return (
    <>
      <PageHeader title="Operators" description="Who is on duty, what they are handling and who is free." />
      <EmptyState title="No operator activity yet">
        <p>
          Operators appear here once they go on duty in the dashboard: their availability, the calls they are
          listening to or have taken over, and the escalations waiting for them.
        </p>
      </EmptyState>
    </>
  );
}
