import { describe, expect, it } from "vitest";
import {
  extractBirthDate,
  extractChoice,
  extractDateTimes,
  extractName,
  extractPhone,
  extractYesNo,
  localToInstant,
  zoneOffsetMinutes,
} from "../../../shared/engine/extract";
import { NOW, SLOTS, TIME_ZONE } from "./fixtures";

describe("extractDateTimes (relative to now in the clinic's zone)", () => {
  // NOW is Tuesday 1 December 2026, 10:00 in New York.
  it.each([
    ["next Tuesday at 3", { date: "2026-12-08", time: "15:00", instant: "2026-12-08T20:00:00.000Z" }],
    ["tomorrow morning", { date: "2026-12-02", time: null, part_of_day: "morning" }],
    ["Friday at 2:30 pm", { date: "2026-12-04", time: "14:30", weekday: 5 }],
    ["December 15th at 9am", { date: "2026-12-15", time: "09:00", instant: "2026-12-15T14:00:00.000Z" }],
    ["Thursday afternoon", { date: "2026-12-03", time: null, part_of_day: "afternoon" }],
    // chrono reads the date and "in the afternoon" as two results: the part of day joins the date.
    [
      "Wednesday January 27th 2027 in the afternoon",
      { date: "2027-01-27", time: null, part_of_day: "afternoon" },
    ],
  ])("%j", (text, expected) => {
    expect(extractDateTimes(text, NOW, TIME_ZONE)[0]).toMatchObject(expected);
  });

  it("finds nothing in words without a date", () => {
    expect(extractDateTimes("I need a refill", NOW, TIME_ZONE)).toEqual([]);
  });

  it("reads wall time in the zone, across daylight saving", () => {
    expect(zoneOffsetMinutes(new Date("2026-07-01T12:00:00Z"), TIME_ZONE)).toBe(-240);
    expect(zoneOffsetMinutes(NOW, TIME_ZONE)).toBe(-300);
    expect(
      localToInstant({ year: 2027, month: 3, day: 15, hour: 9, minute: 0 }, TIME_ZONE).toISOString(),
    ).toBe("2027-03-15T13:00:00.000Z");
  });
});

describe("extractBirthDate", () => {
  it.each([
    ["03/05/1980", "1980-03-05"],
    ["3-5-80", "1980-03-05"],
    ["1980-03-05", "1980-03-05"],
    ["March 5th, 1980", "1980-03-05"],
    ["march 5 1980", "1980-03-05"],
    ["5 March 1980", "1980-03-05"],
    ["the fifth of March nineteen eighty", "1980-03-05"],
    ["March twenty first, nineteen eighty five", "1985-03-21"],
    ["my birthday is may twelfth nineteen sixty two", "1962-05-12"],
    ["May 3rd two thousand and three", "2003-05-03"],
    ["born on June 12, 1975", "1975-06-12"],
    ["it's Feb 29 2000", "2000-02-29"],
    ["1/2/05", "2005-01-02"],
  ])("%j → %s", (text, iso) => {
    expect(extractBirthDate(text, NOW, TIME_ZONE)).toEqual({ ok: true, iso });
  });

  it.each([
    ["February 30th 1990", "impossible"],
    ["Feb 29 2001", "impossible"],
    ["13/01/1990", "impossible"],
    ["April 31 1970", "impossible"],
    ["July 4 2030", "future"],
    ["January 1 1850", "too_old"],
  ])("rejects %j (%s)", (text, reason) => {
    expect(extractBirthDate(text, NOW, TIME_ZONE)).toEqual({ ok: false, reason });
  });

  it("returns null when there is no date", () => {
    expect(extractBirthDate("I don't remember", NOW, TIME_ZONE)).toBeNull();
    expect(extractBirthDate("I may be late", NOW, TIME_ZONE)).toBeNull();
  });
});

describe("extractName", () => {
  it.each([
    ["my name is john smith", "John Smith"],
    ["My name's Maria Garcia-Lopez.", "Maria Garcia-Lopez"],
    ["This is Maria Garcia calling about my visit", "Maria Garcia"],
    ["Hi, I'm Jane Doe", "Jane Doe"],
    ["Hi, it's Bob", "Bob"],
  ])("%j → %s", (text, name) => {
    expect(extractName(text)).toBe(name);
  });

  it.each(["I'm calling about my appointment", "this is about my bill", "I'm not sure", "It's urgent"])(
    "finds no name in %j",
    (text) => {
      expect(extractName(text)).toBeNull();
    },
  );

  it("takes a bare answer only when asked for", () => {
    expect(extractName("Jane O'Neil")).toBeNull();
    expect(extractName("Jane O'Neil", { bare: true })).toBe("Jane O'Neil");
    expect(extractName("yes please", { bare: true })).toBeNull();
  });
});

describe("extractPhone", () => {
  it.each([
    ["call me at 415-555-0132", "+14155550132"],
    ["it's (212) 555 0199", "+12125550199"],
    ["+44 20 7946 0958", "+442079460958"],
    ["four one five, five five five, zero one three two", "+14155550132"],
  ])("%j → %s", (text, e164) => {
    expect(extractPhone(text)).toBe(e164);
  });

  it("rejects numbers that are not numbers", () => {
    expect(extractPhone("my code is 12345")).toBeNull();
    expect(extractPhone("no phone")).toBeNull();
  });
});

describe("extractYesNo", () => {
  it.each([
    ["yes", "yes"],
    ["yeah that's right", "yes"],
    ["Sure, go ahead.", "yes"],
    ["nope", "no"],
    ["no, that's wrong", "no"],
    ["that's not right", "no"],
    ["no, that's right", "no"],
    ["I don't know", null],
    ["maybe", null],
    ["the blue one", null],
  ])("%j → %s", (text, answer) => {
    expect(extractYesNo(text)).toBe(answer);
  });
});

describe("extractChoice", () => {
  it.each([
    ["the second one", 1],
    ["the first", 0],
    ["option 3", 2],
    ["number two please", 1],
    ["the last one", 2],
    ["Tuesday at 10", 0],
    ["wednesday", 1],
    ["9 am on Thursday", 2],
    ["how about 9", 2],
    ["none of those", null],
    ["at 4", null],
  ])("%j → %s", (text, index) => {
    expect(extractChoice(text, SLOTS, NOW, TIME_ZONE)).toBe(index);
  });

  it("matches words of the label for options that are not slots", () => {
    const places = [
      { id: "a", label: "Main Street office" },
      { id: "b", label: "Riverside campus" },
    ];
    expect(extractChoice("the riverside one", places, NOW, TIME_ZONE)).toBe(1);
    expect(extractChoice("either", places, NOW, TIME_ZONE)).toBeNull();
  });
});
