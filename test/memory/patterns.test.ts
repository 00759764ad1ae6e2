/**
 * Memory L2, pure: patterns from crafted interactions and tasks. Contact times in the workspace's time
 * zone, the channel the patient actually uses and answers on, refill cycles, recurring concerns; each
 * with its support, and the same answer in any order.
 */
import { describe, expect, it } from "vitest";
import {
  bucketOf,
  computePatterns,
  type InteractionRecord,
  localHour,
  MemoryPatternsSchema,
  type TaskRecord,
} from "../../shared/world/memory";

const at = (day: number, hourUtc: number) => new Date(Date.UTC(2026, 2, day, hourUtc, 15)).toISOString();

function contact(
  id: string,
  occurred_at: string,
  channel: InteractionRecord["channel"] = "voice",
  direction: InteractionRecord["direction"] = "inbound",
  topics: string[] = [],
): InteractionRecord {
  return { interaction_id: id, channel, direction, occurred_at, summary: "", topics };
}

const task = (
  due_at: string,
  kind: TaskRecord["kind"] = "callback",
  status: TaskRecord["status"] = "open",
): TaskRecord => ({
  task_id: `t-${due_at}`,
  kind,
  due_at,
  status,
  note: "",
});

describe("time of day", () => {
  it("reads hours in the workspace's time zone, across daylight saving", () => {
    expect(localHour("2026-01-15T14:00:00Z", "America/New_York")).toBe(9);
    expect(localHour("2026-07-15T14:00:00Z", "America/New_York")).toBe(10);
    expect(localHour("2026-07-15T14:00:00Z", "Asia/Kolkata")).toBe(19);
    expect(localHour("2026-07-15T14:00:00Z", "Not/AZone")).toBe(14);
  });

  it.each([
    [4, "night"],
    [5, "morning"],
    [11, "morning"],
    [12, "afternoon"],
    [16, "afternoon"],
    [17, "evening"],
    [21, "evening"],
    [22, "night"],
  ] as const)("hour %i is %s", (hour, bucket) => {
    expect(bucketOf(hour)).toBe(bucket);
  });
});

describe("computePatterns", () => {
  it("finds the preferred contact time from inbound contacts and requested callbacks", () => {
    // 14:15 UTC in March is 07:15 in Los Angeles: mornings there, afternoons in UTC.
    const interactions = [
      contact("a", at(2, 14)),
      contact("b", at(9, 15)),
      contact("c", at(16, 22)),
      contact("d", at(20, 2), "sms", "outbound"),
    ];
    const tasks = [task(at(25, 16))];
    const la = computePatterns(interactions, tasks, { timeZone: "America/Los_Angeles" }).contact_time;
    expect(la).toMatchObject({ bucket: "morning", support: 3, total: 4, time_zone: "America/Los_Angeles" });
    const utc = computePatterns(interactions, tasks, { timeZone: "UTC" }).contact_time;
    expect(utc).toMatchObject({ bucket: "afternoon", support: 3, total: 4 });
    expect(utc!.hours).toEqual({ "14": 1, "15": 1, "16": 1, "22": 1 });
  });

  it("prefers the channel the patient reaches us on and answers on, not the one we use most", () => {
    const interactions = [
      contact("o1", at(1, 15), "voice", "outbound"),
      contact("o2", at(3, 15), "voice", "outbound"),
      contact("o3", at(5, 15), "voice", "outbound"),
      contact("s1", at(7, 15), "sms", "outbound"),
      contact("s2", at(7, 18), "sms", "inbound"),
      contact("s3", at(12, 15), "sms", "outbound"),
      contact("s4", at(16, 15), "sms", "inbound"),
    ];
    const { channel } = computePatterns(interactions, [], { timeZone: "UTC" });
    expect(channel).toEqual({
      preferred: "sms",
      support: 3,
      by_channel: {
        voice: { used: 3, inbound: 0, answered: 0 },
        // s3's reply came four days later: not an answer to it.
        sms: { used: 4, inbound: 2, answered: 1 },
      },
    });
  });

  it("has no preferred channel when the patient never engaged", () => {
    const { channel, contact_time } = computePatterns([contact("o", at(1, 15), "voice", "outbound")], [], {
      timeZone: "UTC",
    });
    expect(channel).toMatchObject({ preferred: null, support: 0 });
    expect(contact_time).toBeNull();
  });

  it("measures refill cycles and predicts the next one", () => {
    const interactions = [
      contact("r1", "2026-01-02T15:00:00.000Z", "voice", "inbound", ["medication_refill"]),
      contact("r2", "2026-02-01T15:00:00.000Z", "sms", "inbound", ["Medication refill", "billing"]),
      contact("x", "2026-02-10T15:00:00.000Z", "voice", "inbound", ["lab_results"]),
      contact("r3", "2026-03-05T15:00:00.000Z", "voice", "inbound", ["medication_refill"]),
    ];
    const { adherence } = computePatterns(interactions, [], { timeZone: "UTC" });
    expect(adherence).toEqual([
      {
        topic: "medication_refill",
        support: 3,
        intervals_days: [30, 32],
        median_interval_days: 31,
        last_at: "2026-03-05T15:00:00.000Z",
        next_expected_at: "2026-04-05T15:00:00.000Z",
      },
    ]);
  });

  it("needs two refills for a cycle", () => {
    const one = [contact("r1", at(1, 15), "voice", "inbound", ["medication_refill"])];
    expect(computePatterns(one, [], { timeZone: "UTC" }).adherence).toEqual([]);
  });

  it("lists concerns raised in two or more interactions, most frequent first", () => {
    const interactions = [
      contact("1", at(1, 15), "voice", "inbound", ["billing_question", "lab_results"]),
      contact("2", at(2, 15), "voice", "inbound", ["billing_question", "billing_question"]),
      contact("3", at(3, 15), "voice", "inbound", ["lab_results", "billing_question"]),
      contact("4", at(4, 15), "voice", "inbound", ["referral"]),
    ];
    expect(computePatterns(interactions, [], { timeZone: "UTC" }).concerns).toEqual([
      { topic: "billing_question", support: 3, first_at: at(1, 15), last_at: at(3, 15) },
      { topic: "lab_results", support: 2, first_at: at(1, 15), last_at: at(3, 15) },
    ]);
  });

  it("gives the same patterns in any order, in the shape the schema publishes", () => {
    const interactions = [
      contact("1", at(1, 15), "voice", "inbound", ["medication_refill"]),
      contact("2", at(20, 9), "sms", "outbound", ["medication_refill"]),
      contact("3", at(20, 11), "sms", "inbound", ["billing_question"]),
      contact("4", at(28, 23), "web", "inbound", ["billing_question", "medication_refill"]),
    ];
    const tasks = [task(at(29, 13)), task(at(30, 13), "follow_up", "done")];
    const forward = computePatterns(interactions, tasks, { timeZone: "Europe/Paris" });
    const backward = computePatterns([...interactions].reverse(), [...tasks].reverse(), {
      timeZone: "Europe/Paris",
    });
    expect(backward).toEqual(forward);
    expect(MemoryPatternsSchema.parse(forward)).toEqual(forward);
    expect(forward).toMatchObject({ version: 1, interactions: 4, last_interaction_at: at(28, 23) });
  });

  it("is empty, not missing, for a patient with no history", () => {
    expect(computePatterns([], [], { timeZone: "UTC" })).toEqual({
      version: 1,
      interactions: 0,
      last_interaction_at: null,
      contact_time: null,
      channel: null,
      adherence: [],
      concerns: [],
    });
  });
});
