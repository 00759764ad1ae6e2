import { EmptyState } from "../components/empty-state";
import { PageHeader } from "../components/page-header";
import { useDocumentTitle } from "../hooks";
import { Link } from "../router";
import { HOME_PATH } from "../routes";

export function NotFoundPage() {
  useDocumentTitle("Page not found");
  return (
    <>
      <PageHeader title="Page not found" />
      <EmptyState title="There is no page at this address">
        <p>
          Check the address, or go to <Link href={HOME_PATH}>Calls</Link>.
        </p>
      </EmptyState>
    </>
  );
}
