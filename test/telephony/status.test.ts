/**
 * Status and recording callbacks: Twilio may deliver each more than once and in any order. One call
 * row results, its status only moves forward, answered/ended times and duration are set, and
 * `call.ended` is published exactly once.
 */
import { describe, expect, it } from "vitest";
import { findCallByProviderSid, listCallEvents } from "../../workers/db/calls";
import { db } from "../helpers/db";
import { clinicLine, fakeSid, published, twilioPost, voiceParams } from "./helpers";

const rfc2822 = (iso: string) => new Date(iso).toUTCString().replace("GMT", "+0000");

async function startCall() {
  const line = await clinicLine();
  const params = voiceParams(line.number.e164);
  expect((await twilioPost("/telephony/twilio/voice", params)).status).toBe(200);
  const call = (await findCallByProviderSid(db(), params.CallSid))!;
  return { ...line, callSid: params.CallSid, call };
}

function status(
  callSid: string,
  callStatus: string,
  sequence: number,
  at: string,
  extra: Record<string, string> = {},
) {
  return twilioPost("/telephony/twilio/status", {
    CallSid: callSid,
    AccountSid: fakeSid("AC"),
    CallStatus: callStatus,
    SequenceNumber: String(sequence),
    Timestamp: rfc2822(at),
    CallbackSource: "call-progress-events",
    ...extra,
  });
}

describe("POST /telephony/twilio/status", () => {
  it("in order: answered then completed sets the times, duration and publishes call.ended once", async () => {
    const { ws, callSid, call } = await startCall();
    expect((await status(callSid, "in-progress", 1, "2026-12-01T10:00:05Z")).status).toBe(200);
    const res = await status(callSid, "completed", 2, "2026-12-01T10:03:05Z", { CallDuration: "180" });
    expect(res.status).toBe(200);

    const after = (await findCallByProviderSid(db(), callSid))!;
    expect(after).toMatchObject({
      id: call.id,
      status: "completed",
      answeredAt: "2026-12-01T10:00:05.000Z",
      endedAt: "2026-12-01T10:03:05.000Z",
      durationSeconds: 180,
    });
    const ended = await published(ws.id, "call.ended");
    expect(ended).toHaveLength(1);
    expect(ended[0]!.data).toEqual({
      call_id: call.id,
      service_id: call.serviceId,
      status: "completed",
      duration_seconds: 180,
    });
  });

  it("duplicates and out-of-order callbacks leave one call with the right final status and one call.ended", async () => {
    const { ws, callSid, call } = await startCall();
    const completed = () => status(callSid, "completed", 3, "2026-12-01T11:02:00Z", { CallDuration: "95" });
    // completed arrives first, twice at once, then the late ones, then completed again.
    const responses = await Promise.all([completed(), completed()]);
    responses.push(await status(callSid, "ringing", 1, "2026-12-01T11:00:20Z"));
    responses.push(await status(callSid, "in-progress", 2, "2026-12-01T11:00:25Z"));
    responses.push(await completed());
    responses.push(await status(callSid, "in-progress", 2, "2026-12-01T11:00:25Z"));
    for (const res of responses) expect(res.status, res.text).toBe(200);

    const after = (await findCallByProviderSid(db(), callSid))!;
    expect(after).toMatchObject({ id: call.id, status: "completed", statusRank: 4, durationSeconds: 95 });
    expect(after.endedAt).toBe("2026-12-01T11:02:00.000Z");
    // Answered time recovered from the duration, since in-progress came too late to move the call.
    expect(after.answeredAt).toBe("2026-12-01T11:00:25.000Z");
    expect(await published(ws.id, "call.ended")).toHaveLength(1);

    const events = await listCallEvents(db(), ws.id, call.id);
    expect(
      events
        .filter((e) => e.kind === "provider.status")
        .map((e) => e.dedupeKey)
        .sort(),
    ).toEqual(["status:completed:3", "status:in-progress:2", "status:ringing:1"]);
  });

  it("a different ending after completed changes nothing", async () => {
    const { ws, callSid } = await startCall();
    await status(callSid, "completed", 2, "2026-12-01T12:01:00Z", { CallDuration: "30" });
    await status(callSid, "failed", 3, "2026-12-01T12:01:01Z");
    expect((await findCallByProviderSid(db(), callSid))!.status).toBe("completed");
    expect(await published(ws.id, "call.ended")).toHaveLength(1);
  });

  it("a call that was never answered ends without an answered time", async () => {
    const { callSid } = await startCall();
    await status(callSid, "no-answer", 2, "2026-12-01T13:00:30Z", { CallDuration: "0" });
    const after = (await findCallByProviderSid(db(), callSid))!;
    expect(after).toMatchObject({ status: "no-answer", answeredAt: null, durationSeconds: 0 });
    expect(after.endedAt).toBe("2026-12-01T13:00:30.000Z");
  });

  it("an unknown CallSid answers 200, writes nothing and is logged with its SID only", async () => {
    const warnings: string[] = [];
    const original = console.warn;
    console.warn = (line: string) => warnings.push(line);
    const sid = fakeSid("CA");
    try {
      const res = await status(sid, "completed", 1, "2026-12-01T14:00:00Z", { CallDuration: "10" });
      expect(res.status).toBe(200);
    } finally {
      console.warn = original;
    }
    expect(await findCallByProviderSid(db(), sid)).toBeUndefined();
    expect(warnings.map((w) => JSON.parse(w))).toEqual([
      expect.objectContaining({ event: "telephony.unknown_call", callback: "status", call_sid: sid }),
    ]);
  });
});

describe("POST /telephony/twilio/recording", () => {
  const recording = (
    callSid: string,
    recordingSid: string,
    recordingStatus: string,
    extra: Record<string, string> = {},
  ) =>
    twilioPost("/telephony/twilio/recording", {
      AccountSid: fakeSid("AC"),
      CallSid: callSid,
      RecordingSid: recordingSid,
      RecordingStatus: recordingStatus,
      RecordingUrl: `https://api.twilio.com/2010-04-01/Accounts/AC00/Recordings/${recordingSid}`,
      RecordingChannels: "2",
      RecordingSource: "StartCallRecordingAPI",
      RecordingStartTime: "Tue, 01 Dec 2026 15:00:00 +0000",
      ...extra,
    });

  it("stores the recording's metadata once; duplicates and a late in-progress change nothing", async () => {
    const { ws, callSid, call } = await startCall();
    const recordingSid = fakeSid("RE");
    expect((await recording(callSid, recordingSid, "in-progress")).status).toBe(200);
    const done = () => recording(callSid, recordingSid, "completed", { RecordingDuration: "42" });
    await Promise.all([done(), done()]);
    await recording(callSid, recordingSid, "in-progress");

    const after = (await findCallByProviderSid(db(), callSid))!;
    expect(after.recording).toMatchObject({
      sid: recordingSid,
      status: "completed",
      duration_seconds: 42,
      channels: 2,
      source: "StartCallRecordingAPI",
      started_at: "2026-12-01T15:00:00.000Z",
      url: `https://api.twilio.com/2010-04-01/Accounts/AC00/Recordings/${recordingSid}`,
    });
    const events = (await listCallEvents(db(), ws.id, call.id)).filter(
      (e) => e.kind === "provider.recording",
    );
    expect(events.map((e) => e.dedupeKey).sort()).toEqual([
      `recording:${recordingSid}:completed`,
      `recording:${recordingSid}:in-progress`,
    ]);
  });

  it("an unknown CallSid answers 200 and writes nothing", async () => {
    const sid = fakeSid("CA");
    const original = console.warn;
    console.warn = () => {};
    try {
      expect((await recording(sid, fakeSid("RE"), "completed")).status).toBe(200);
    } finally {
      console.warn = original;
    }
    expect(await findCallByProviderSid(db(), sid)).toBeUndefined();
  });
});
