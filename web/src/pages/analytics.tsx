import { EmptyState } from "../components/empty-state";
import { PageHeader } from "../components/page-header";
import { useDocumentTitle } from "../hooks";
import { useSession } from "../session";

/** Volume, outcomes and quality over time. */
export function AnalyticsPage() {
  const { workspace } = useSession();
  useDocumentTitle("Analytics", workspace.name);
  return (
    <>
      <PageHeader title="Analytics" description="Call volume, outcomes, escalations and quality over time." />
      <EmptyState title="No data to chart yet">
        <p>
          Analytics appear here once calls have been handled: volume by service and hour, how calls ended, how
          often and why they were escalated, and quality scores from post-call review.
        </p>
      </EmptyState>
    </>
  );
}
