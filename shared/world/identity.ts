/** What identifies an entity, read off its projected state: display name and the keys resolution uses. */
import type { FactValue } from "./events";
import type { EntityState } from "./projection";
import type { IdentifyingDetails } from "./resolution";

export interface IdentitySummary {
  displayName: string | null;
  details: IdentifyingDetails;
  externalIds: string[];
  /** The highest confidence among the facts that identify the entity. */
  confidence: number;
}

const str = (v: FactValue | undefined): string | undefined => (typeof v === "string" ? v : undefined);

export function identityOf(state: EntityState): IdentitySummary {
  const fact = (path: string) => state.facts[path];
  const given = str(fact("demographics.given_name")?.value);
  const family = str(fact("demographics.family_name")?.value);
  const profileName = str(fact("profile.name")?.value);
  const displayName = [given, family].filter(Boolean).join(" ") || profileName || null;
  const externalIds = Object.entries(state.facts)
    .filter(([path]) => path.startsWith("identifiers."))
    .map(([, f]) => str(f.value))
    .filter((v): v is string => Boolean(v));
  const identityPaths = [
    "demographics.given_name",
    "demographics.family_name",
    "demographics.birth_date",
    "contact.phone",
    "contact.email",
    "profile.name",
  ];
  const confidences = [
    ...identityPaths.map((p) => fact(p)?.confidence ?? 0),
    ...Object.entries(state.facts)
      .filter(([path]) => path.startsWith("identifiers."))
      .map(([, f]) => f.confidence),
  ];
  return {
    displayName,
    details: {
      given_name: given,
      family_name: family,
      birth_date: str(fact("demographics.birth_date")?.value),
      phone: str(fact("contact.phone")?.value),
      email: str(fact("contact.email")?.value),
    },
    externalIds,
    confidence: Math.max(0, ...confidences),
  };
}
