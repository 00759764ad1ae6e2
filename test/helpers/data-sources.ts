/** Data sources written straight to D1, for the suites that read what the connector recorded. */
import { newId } from "../../shared/ids";
import { dataSources } from "../../workers/db/schema";
import { db } from "./db";
import { unique } from "./workspace";

/**
 * A data source row with no audit row and no secrets unless given: by default a polling `fhir_store` at
 * a host nothing calls, source system `ehr`, reading Patients. Returns its id.
 */
export async function insertDataSource(
  workspaceId: string,
  fields: Partial<typeof dataSources.$inferInsert> = {},
): Promise<string> {
  const id = fields.id ?? newId("ds");
  await db()
    .insert(dataSources)
    .values({
      id,
      workspaceId,
      name: `EHR ${unique()}`,
      type: "fhir_store",
      baseUrl: "https://ehr.example.test/fhir",
      sourceSystem: "ehr",
      auth: { type: "none" },
      resourceTypes: ["Patient"],
      ...fields,
    });
  return id;
}
