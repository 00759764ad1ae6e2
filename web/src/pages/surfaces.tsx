import { EmptyState } from "../components/empty-state";
import { PageHeader } from "../components/page-header";
import { useDocumentTitle } from "../hooks";
import { useSession } from "../session";

/** Forms, uploads and signatures sent to patients. */
export function SurfacesPage() {
  const { workspace } = useSession();
  useDocumentTitle("Surfaces", workspace.name);
  return (
    <>
      <PageHeader
        title="Surfaces"
        description="Secure links sent to patients: forms, photo and file uploads, signatures."
      />
      <EmptyState title="No surfaces sent yet">
        <p>
          Surfaces appear here once an agent or operator sends one during or after a call, with their delivery
          status, whether the patient opened and completed them, and what they submitted.
        </p>
      </EmptyState>
    </>
  );
}
