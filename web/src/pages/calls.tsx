import { EmptyState } from "../components/empty-state";
import { PageHeader } from "../components/page-header";
import { useDocumentTitle } from "../hooks";
import { Link } from "../router";
import { useSession } from "../session";

/** Live and recent calls. Filled once telephony is connected. */
export function CallsPage() {
  const { workspace } = useSession();
  useDocumentTitle("Calls", workspace.name);
  return (
    <>
      <PageHeader title="Calls" description="Live calls, the escalation queue and recent call history." />
      <EmptyState title="No calls yet">
        <p>
          Live calls appear here once telephony is connected. Each call will show its service, caller, status
          and risk as it happens, with escalations at the top of the queue.
        </p>
        <p>
          The numbers that will ring through are listed in <Link href="/settings">Settings</Link>.
        </p>
      </EmptyState>
    </>
  );
}
