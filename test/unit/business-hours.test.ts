/** A data source's business hours on the clinic's own clock: the window holding an instant, and the poll gate. */
import { describe, expect, it } from "vitest";
import { type BusinessHours, insideBusinessHours, openedAt } from "../../shared/ehr/business-hours";

const WEEKDAYS_NY: BusinessHours = {
  timezone: "America/New_York",
  days: [1, 2, 3, 4, 5],
  start: "09:00",
  end: "17:00",
};

const NOW = new Date("2027-01-04T18:00:00.000Z"); // a Monday, 13:00 in New York

describe("openedAt", () => {
  it("gives the start of the window that holds the instant, in the gate's time zone", () => {
    expect(openedAt(WEEKDAYS_NY, new Date("2027-01-04T14:30:12.345Z"))?.toISOString()).toBe(
      "2027-01-04T14:00:00.000Z",
    );
    // Summer time: 09:00 in New York is 13:00 UTC.
    expect(openedAt(WEEKDAYS_NY, new Date("2027-07-06T13:05:00.000Z"))?.toISOString()).toBe(
      "2027-07-06T13:00:00.000Z",
    );
  });

  it("is null before opening, at closing time, and on days off", () => {
    expect(openedAt(WEEKDAYS_NY, new Date("2027-01-04T13:59:00.000Z"))).toBeNull();
    expect(openedAt(WEEKDAYS_NY, new Date("2027-01-04T22:00:00.000Z"))).toBeNull();
    expect(openedAt(WEEKDAYS_NY, new Date("2027-01-09T15:00:00.000Z"))).toBeNull(); // Saturday
  });

  it("runs an overnight window into the next morning, on the day it opened", () => {
    const night: BusinessHours = { timezone: "UTC", days: [1], start: "22:00", end: "06:00" };
    expect(openedAt(night, new Date("2027-01-04T23:10:00.000Z"))?.toISOString()).toBe(
      "2027-01-04T22:00:00.000Z",
    );
    expect(openedAt(night, new Date("2027-01-05T05:59:00.000Z"))?.toISOString()).toBe(
      "2027-01-04T22:00:00.000Z",
    );
    expect(openedAt(night, new Date("2027-01-05T06:00:00.000Z"))).toBeNull();
    // Tuesday night is not in the gate.
    expect(openedAt(night, new Date("2027-01-05T23:00:00.000Z"))).toBeNull();
  });

  it("treats a gate it cannot read as always open, so it never hides an overdue source", () => {
    expect(openedAt({ ...WEEKDAYS_NY, timezone: "Not/AZone" }, NOW)?.getTime()).toBe(0);
  });
});

describe("insideBusinessHours", () => {
  it("reads business hours on the clinic's clock, end exclusive, across daylight saving", () => {
    // Summer (UTC-4) and winter (UTC-5): 09:00 local is 13:00 and 14:00 UTC.
    expect(insideBusinessHours(WEEKDAYS_NY, new Date("2027-07-07T13:00:00Z"))).toBe(true);
    expect(insideBusinessHours(WEEKDAYS_NY, new Date("2027-07-07T12:59:00Z"))).toBe(false);
    expect(insideBusinessHours(WEEKDAYS_NY, new Date("2027-01-06T14:00:00Z"))).toBe(true);
    expect(insideBusinessHours(WEEKDAYS_NY, new Date("2027-01-06T13:59:00Z"))).toBe(false);
    expect(insideBusinessHours(WEEKDAYS_NY, new Date("2027-01-06T22:00:00Z"))).toBe(false);
    expect(insideBusinessHours(WEEKDAYS_NY, new Date("2027-01-06T21:59:00Z"))).toBe(true);
    // Saturday noon in New York.
    expect(insideBusinessHours(WEEKDAYS_NY, new Date("2027-01-09T17:00:00Z"))).toBe(false);
  });

  it("is always open without hours", () => {
    expect(insideBusinessHours(null, new Date("2027-01-09T17:00:00Z"))).toBe(true);
  });
});
