import { useEffect, useState } from "preact/hooks";
import { workspacePath } from "../api";
import { PageHeader } from "../components/page-header";
import { fetchAll, useDocumentTitle } from "../hooks";
import { useSession } from "../session";
import type { Service } from "../types";
import { ApiKeysSection } from "./settings/api-keys";
import { PhoneNumbersSection } from "./settings/phone-numbers";
import { ServicesSection } from "./settings/services";
import { UsersSection } from "./settings/users";
import { WorkspaceSection } from "./settings/workspace";

export type ServicesState =
  | { status: "loading" }
  | { status: "ready"; services: Service[] }
  | { status: "failed"; error: unknown };

/** The workspace's configuration as the API holds it. Admin-only parts are explained, not hidden. */
export function SettingsPage() {
  const { workspace } = useSession();
  useDocumentTitle("Settings", workspace.name);
  const [services, setServices] = useState<ServicesState>({ status: "loading" });
  const [servicesGeneration, setServicesGeneration] = useState(0);

  useEffect(() => {
    const controller = new AbortController();
    setServices({ status: "loading" });
    fetchAll<Service>(workspacePath(workspace.id, "services"), controller.signal).then(
      (list) => setServices({ status: "ready", services: list }),
      (error: unknown) => {
        if (!controller.signal.aborted) setServices({ status: "failed", error });
      },
    );
    return () => controller.abort();
  }, [workspace.id, servicesGeneration]);

  return (
    <>
      <PageHeader
        title="Settings"
        description="This workspace's details, lines, numbers, people and API access."
      />
      <nav class="section-nav" aria-label="Settings sections">
        <a href="#workspace">Workspace</a>
        <a href="#services">Services</a>
        <a href="#phone-numbers">Phone numbers</a>
        <a href="#users">Users</a>
        <a href="#api-keys">API keys</a>
      </nav>
      <WorkspaceSection />
      <ServicesSection state={services} onRetry={() => setServicesGeneration((g) => g + 1)} />
      <PhoneNumbersSection services={services} />
      <UsersSection />
      <ApiKeysSection />
    </>
  );
}
