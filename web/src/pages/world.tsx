import { EmptyState } from "../components/empty-state";
import { PageHeader } from "../components/page-header";
import { useDocumentTitle } from "../hooks";
import { useSession } from "../session";

/** The world model: people, appointments and what links them. */
export function WorldPage() {
  const { workspace } = useSession();
  useDocumentTitle("World", workspace.name);
  return (
    <>
      <PageHeader
        title="World"
        description="What Switchboard knows about patients, providers and appointments, and where it learned it."
      />
      <EmptyState title="Nothing learned yet">
        <p>
          The world model fills in as calls are handled and data sources are connected. Each fact will show
          its source and confidence, and facts awaiting verification will be listed for review.
        </p>
      </EmptyState>
    </>
  );
}
