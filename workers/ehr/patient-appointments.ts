/**
 * A patient's booked appointments from now on, soonest first, as the EHR holds them (the world model
 * links appointments to patients only by FHIR id). Empty without a scheduling source or an EHR record.
 */
import type { Appointment } from "@medplum/fhirtypes";
import type { UpcomingAppointment } from "../../shared/engine/engine";
import { database } from "../db/client";
import { ehrRecordId } from "./patients";
import { resourcesOf } from "./scheduling-support";
import { writebackSink } from "./sources";
import { connect, fhir } from "./upstream";

export type Upcoming = UpcomingAppointment & { appointment_id: string };

export async function upcomingAppointments(
  env: Env,
  workspaceId: string,
  patientEntityId: string | null,
  now: Date,
  max = 5,
): Promise<Upcoming[]> {
  if (!patientEntityId) return [];
  const sink = await writebackSink(env, workspaceId);
  if (!sink) return [];
  const db = database(env.DB);
  const patientId = await ehrRecordId(env, db, workspaceId, patientEntityId, "Patient", sink);
  if (!patientId) return [];
  const client = await connect(env, sink);
  const bundle = await fhir(() =>
    client.search("Appointment", {
      patient: `Patient/${patientId}`,
      date: `ge${now.toISOString()}`,
      status: "booked",
      _sort: "date",
      _count: "20",
    }),
  );
  return resourcesOf<Appointment>(bundle, "Appointment")
    .filter((a) => a.id && a.start && a.status === "booked" && Date.parse(a.start) >= now.getTime())
    .sort((a, b) => Date.parse(a.start!) - Date.parse(b.start!))
    .slice(0, max)
    .map((a) => {
      const provider = a.participant?.find((p) => p.actor?.reference?.startsWith("Practitioner/"))?.actor
        ?.display;
      const location = a.participant?.find((p) => p.actor?.reference?.startsWith("Location/"))?.actor
        ?.display;
      const description = a.appointmentType?.text ?? a.serviceType?.[0]?.text ?? a.description;
      return {
        appointment_id: a.id!,
        start: new Date(a.start!).toISOString(),
        ...(description ? { description } : {}),
        ...(provider ? { provider } : {}),
        ...(location ? { location } : {}),
      };
    });
}
