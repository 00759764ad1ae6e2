/**
 * Slot extraction for the local engine: dates and times (chrono-node, relative to the call's `now` in
 * the clinic's time zone), birth dates (spoken and written forms to ISO, impossible dates rejected),
 * person names, phone numbers (libphonenumber-js, US default), yes/no, and a choice among options the
 * agent offered. Each extractor returns null when it finds nothing, never a guess.
 */
import * as chrono from "chrono-node";
import { findPhoneNumbersInText } from "libphonenumber-js/max";
import { normalize } from "./text";

// ---------------------------------------------------------------------------------------------------
// Time zones: local wall time <-> instants without a timezone library (Intl is in every runtime).

const zoneFormatters = new Map<string, Intl.DateTimeFormat>();

function zoneFormatter(timeZone: string): Intl.DateTimeFormat {
  let f = zoneFormatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
    });
    zoneFormatters.set(timeZone, f);
  }
  return f;
}

export interface LocalParts {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
}

/** Wall-clock parts of `instant` in `timeZone`. */
export function localParts(instant: Date, timeZone: string): LocalParts {
  const parts: Record<string, number> = {};
  for (const p of zoneFormatter(timeZone).formatToParts(instant)) {
    if (p.type !== "literal") parts[p.type] = Number(p.value);
  }
  return {
    year: parts.year ?? 1970,
    month: parts.month ?? 1,
    day: parts.day ?? 1,
    hour: (parts.hour ?? 0) % 24,
    minute: parts.minute ?? 0,
  };
}

/** Minutes east of UTC of `timeZone` at `instant` (New York in winter: -300). */
export function zoneOffsetMinutes(instant: Date, timeZone: string): number {
  const p = localParts(instant, timeZone);
  const asUtc = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute);
  return Math.round((asUtc - Math.floor(instant.getTime() / 60000) * 60000) / 60000);
}

/** The instant at which the wall clock in `timeZone` reads the given parts (DST-aware). */
export function localToInstant(p: LocalParts, timeZone: string): Date {
  const guess = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute);
  const first = zoneOffsetMinutes(new Date(guess), timeZone);
  let t = guess - first * 60000;
  const second = zoneOffsetMinutes(new Date(t), timeZone);
  if (second !== first) t = guess - second * 60000;
  return new Date(t);
}

const pad = (n: number, width = 2) => String(n).padStart(width, "0");
export const isoDate = (y: number, m: number, d: number) => `${pad(y, 4)}-${pad(m)}-${pad(d)}`;

// ---------------------------------------------------------------------------------------------------
// Dates and times.

export type PartOfDay = "morning" | "afternoon" | "evening";

export interface ExtractedDateTime {
  /** The words that produced it. */
  text: string;
  /** Local calendar date in the clinic's zone. */
  date: string;
  /** Local "HH:MM" when the caller said an hour, else null. */
  time: string | null;
  part_of_day: PartOfDay | null;
  /** 0 = Sunday. */
  weekday: number;
  /** The instant (UTC ISO); the start of the part of day, or 09:00, when no hour was said. */
  instant: string;
}

const DATE_HINT =
  /\d|today|tonight|tomorrow|yesterday|next|this|morning|afternoon|evening|noon|mon|tue|wed|thu|fri|sat|sun|jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|week|day|month/i;

const PART_OF_DAY_START: Record<PartOfDay, number> = { morning: 9, afternoon: 13, evening: 17 };

function partOfDay(text: string): PartOfDay | null {
  if (/\bmorning\b/i.test(text)) return "morning";
  if (/\bafternoon\b/i.test(text)) return "afternoon";
  if (/\b(evening|tonight)\b/i.test(text)) return "evening";
  return null;
}

/**
 * Dates and times in `text`, forward-dated from `now` in `timeZone`. A bare hour from 1 to 6 without
 * am/pm is read as afternoon ("Tuesday at 3" is 15:00): nobody books a clinic visit at 3 a.m.
 */
export function extractDateTimes(text: string, now: Date, timeZone: string): ExtractedDateTime[] {
  if (!DATE_HINT.test(text)) return [];
  const reference = { instant: now, timezone: zoneOffsetMinutes(now, timeZone) };
  const results = chrono.parse(text, reference, { forwardDate: true });
  const out: ExtractedDateTime[] = [];
  for (let i = 0; i < results.length; i++) {
    const r = results[i]!;
    const s = r.start;
    const year = s.get("year");
    const month = s.get("month");
    const day = s.get("day");
    if (year === null || month === null || day === null) continue;
    // chrono leaves "in the afternoon" after a full date ("January 27th 2027 in the afternoon") as a
    // result of its own, dated today: it belongs to the date before it.
    const next = results[i + 1];
    const trailing =
      next && !s.isCertain("hour") && !partOfDay(r.text) && isPartOfDayOnly(next) ? next : null;
    if (trailing) i++;
    const pod = partOfDay(trailing ? trailing.text : r.text);
    let time: string | null = null;
    let hour = pod ? PART_OF_DAY_START[pod] : 9;
    let minute = 0;
    if (s.isCertain("hour")) {
      hour = s.get("hour") ?? hour;
      minute = s.get("minute") ?? 0;
      if (!s.isCertain("meridiem") && hour >= 1 && hour <= 6) hour += 12;
      time = `${pad(hour)}:${pad(minute)}`;
    }
    const instant = localToInstant({ year, month, day, hour, minute }, timeZone);
    out.push({
      text: trailing ? text.slice(r.index, trailing.index + trailing.text.length) : r.text,
      date: isoDate(year, month, day),
      time,
      part_of_day: pod,
      weekday: new Date(Date.UTC(year, month - 1, day)).getUTCDay(),
      instant: instant.toISOString(),
    });
  }
  return out;
}

/** A result that names only a part of the day ("in the afternoon"): no day, weekday or hour of its own. */
const isPartOfDayOnly = (r: chrono.ParsedResult) =>
  partOfDay(r.text) !== null &&
  !r.start.isCertain("day") &&
  !r.start.isCertain("weekday") &&
  !r.start.isCertain("hour");

// ---------------------------------------------------------------------------------------------------
// Birth dates.

// biome-ignore format: a table
const MONTHS: Record<string, number> = {
  jan: 1, january: 1, feb: 2, february: 2, mar: 3, march: 3, apr: 4, april: 4, may: 5, jun: 6, june: 6,
  jul: 7, july: 7, aug: 8, august: 8, sep: 9, sept: 9, september: 9, oct: 10, october: 10, nov: 11,
  november: 11, dec: 12, december: 12,
};

// biome-ignore format: a table
const ONES: Record<string, number> = {
  one: 1, first: 1, two: 2, second: 2, three: 3, third: 3, four: 4, fourth: 4, five: 5, fifth: 5,
  six: 6, sixth: 6, seven: 7, seventh: 7, eight: 8, eighth: 8, nine: 9, ninth: 9,
};
// biome-ignore format: a table
const TEENS: Record<string, number> = {
  ten: 10, tenth: 10, eleven: 11, eleventh: 11, twelve: 12, twelfth: 12, thirteen: 13, thirteenth: 13,
  fourteen: 14, fourteenth: 14, fifteen: 15, fifteenth: 15, sixteen: 16, sixteenth: 16, seventeen: 17,
  seventeenth: 17, eighteen: 18, eighteenth: 18, nineteen: 19, nineteenth: 19,
};
// biome-ignore format: a table
const TENS: Record<string, number> = {
  twenty: 20, twentieth: 20, thirty: 30, thirtieth: 30, forty: 40, fifty: 50, sixty: 60, seventy: 70,
  eighty: 80, ninety: 90,
};

interface NumberAt {
  value: number;
  next: number;
}

/** 1..99 from words or digits ("5", "5th", "twenty first", "twenty-one"); "oh five" → 5. */
function smallNumberAt(tokens: string[], i: number): NumberAt | null {
  const t = tokens[i];
  if (t === undefined) return null;
  const digits = /^(\d{1,2})(st|nd|rd|th)?$/.exec(t);
  if (digits) return { value: Number(digits[1]), next: i + 1 };
  if (t === "oh" || t === "o" || t === "zero") {
    const one = tokens[i + 1];
    if (one !== undefined && ONES[one] !== undefined) return { value: ONES[one], next: i + 2 };
    return null;
  }
  if (TEENS[t] !== undefined) return { value: TEENS[t], next: i + 1 };
  if (ONES[t] !== undefined) return { value: ONES[t], next: i + 1 };
  if (TENS[t] !== undefined) {
    const one = tokens[i + 1];
    if (one !== undefined && ONES[one] !== undefined && !/(ieth)$/.test(t))
      return { value: TENS[t] + ONES[one], next: i + 2 };
    return { value: TENS[t], next: i + 1 };
  }
  return null;
}

/** A year from digits ("1980", "'80") or speech ("nineteen eighty five", "two thousand and three"). */
function yearAt(tokens: string[], i: number, currentYear: number): NumberAt | null {
  const t = tokens[i];
  if (t === undefined) return null;
  if (/^\d{4}$/.test(t)) return { value: Number(t), next: i + 1 };
  if (/^'?\d{2}$/.test(t)) {
    const yy = Number(t.replace("'", ""));
    return { value: yy <= currentYear % 100 ? 2000 + yy : 1900 + yy, next: i + 1 };
  }
  if (t === "two" && tokens[i + 1] === "thousand") {
    let j = i + 2;
    if (tokens[j] === "and") j++;
    const rest = smallNumberAt(tokens, j);
    return rest ? { value: 2000 + rest.value, next: rest.next } : { value: 2000, next: i + 2 };
  }
  const century = TEENS[t] ?? (t === "twenty" ? 20 : undefined);
  if (century === undefined || century < 18) return null;
  if (tokens[i + 1] === "hundred") return { value: century * 100, next: i + 2 };
  const rest = smallNumberAt(tokens, i + 1);
  if (!rest || rest.value < 1) return null;
  return { value: century * 100 + rest.value, next: rest.next };
}

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

export type BirthDateResult =
  | { ok: true; iso: string }
  | { ok: false; reason: "impossible" | "future" | "too_old" };

function validateBirthDate(y: number, m: number, d: number, today: LocalParts): BirthDateResult {
  if (m < 1 || m > 12 || d < 1 || d > daysInMonth(y, m)) return { ok: false, reason: "impossible" };
  const iso = isoDate(y, m, d);
  if (iso > isoDate(today.year, today.month, today.day)) return { ok: false, reason: "future" };
  if (y < today.year - 125) return { ok: false, reason: "too_old" };
  return { ok: true, iso };
}

const SKIPPABLE = new Set(["the", "of", "in", "on", "and", "born"]);

/**
 * A birth date in any of the forms callers and transcribers produce: "03/05/1980", "3-5-80",
 * "1980-03-05", "March 5th, 1980", "the fifth of March nineteen eighty", "5 March 1980". US order
 * (month first) for numeric forms. Null when there is none; `ok: false` when there is one that cannot
 * be a birth date (February 30th, a month 13, a date in the future).
 */
export function extractBirthDate(text: string, now: Date, timeZone: string): BirthDateResult | null {
  const today = localParts(now, timeZone);
  const iso = /\b(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})\b/.exec(text);
  if (iso) return validateBirthDate(Number(iso[1]), Number(iso[2]), Number(iso[3]), today);
  const numeric = /\b(\d{1,2})[-/. ](\d{1,2})[-/. ](\d{4}|\d{2})\b/.exec(text);
  if (numeric) {
    const y = yearAt([numeric[3] ?? ""], 0, today.year)?.value ?? 0;
    return validateBirthDate(y, Number(numeric[1]), Number(numeric[2]), today);
  }
  const tokens = normalize(text.replace(/-/g, " ")).split(" ");
  const monthAt = tokens.findIndex((t) => MONTHS[t] !== undefined && t !== "may");
  const mayAt = monthAt < 0 ? tokens.indexOf("may") : -1;
  const at = monthAt >= 0 ? monthAt : mayAt;
  if (at < 0) return null;
  const month = MONTHS[tokens[at] ?? ""] ?? 0;
  const skip = (k: number, step: 1 | -1) => {
    while (tokens[k] !== undefined && SKIPPABLE.has(tokens[k] ?? "")) k += step;
    return k;
  };
  const yearAfter = (k: number) => yearAt(tokens, skip(k, 1), today.year);
  // Day after the month ("March 5th 1980")…
  const after = smallNumberAt(tokens, skip(at + 1, 1));
  if (after && after.value <= 31) {
    const year = yearAfter(after.next);
    if (year) return validateBirthDate(year.value, month, after.value, today);
  }
  // …or before it ("the 5th of March 1980", "the twenty first of March").
  const k = skip(at - 1, -1);
  if (k < 0) return null;
  const start = k - 1 >= 0 && TENS[tokens[k - 1] ?? ""] !== undefined ? k - 1 : k;
  const before = smallNumberAt(tokens, start);
  if (!before || before.next !== k + 1) return null;
  const year = yearAfter(at + 1);
  if (!year) return null;
  return validateBirthDate(year.value, month, before.value, today);
}

// ---------------------------------------------------------------------------------------------------
// Names.

/** Words that follow "this is" / "I'm" without being a name. */
const NOT_NAME = new Set(
  (
    "a an the about for from calling call calling trying looking just not so very really having here " +
    "regarding with and but to in on at my your his her their our i me he she it we they that this " +
    "sorry fine good great okay ok well yes no yeah sure hoping wondering going gonna still also " +
    "patient doctor nurse urgent important again back new returning confused worried scared calling " +
    "speaking in pain sick ready free available interested hello hi hey um uh what huh pardon " +
    "excuse why how who when where thanks thank"
  ).split(" "),
);

const NAME_LEADS: { pattern: RegExp; strict: boolean }[] = [
  { pattern: /\bmy name(?: is|'s)\s+/i, strict: false },
  { pattern: /\bname(?: is|'s)\s+/i, strict: false },
  { pattern: /\bthis is\s+/i, strict: true },
  { pattern: /\bit(?: is|'s)\s+/i, strict: true },
  { pattern: /\bi(?: am|'m)\s+/i, strict: true },
];

const NAME_WORD = /^[A-Za-z][A-Za-z'-]*$/;

function titleCase(word: string): string {
  return word
    .split(/([-'])/)
    .map((part) => (part.length > 1 ? part[0]?.toUpperCase() + part.slice(1).toLowerCase() : part))
    .join("");
}

function nameFrom(rest: string, strict: boolean, mixedCase: boolean): string | null {
  const words: string[] = [];
  for (const raw of rest.split(/\s+/)) {
    const word = raw.replace(/[.,!?;:]+$/, "");
    if (!NAME_WORD.test(word) || NOT_NAME.has(word.toLowerCase())) break;
    if (strict && mixedCase && !/^[A-Z]/.test(word)) break;
    words.push(titleCase(word));
    if (words.length === 3 || /[.,!?;:]$/.test(raw)) break;
  }
  return words.length > 0 ? words.join(" ") : null;
}

/**
 * A person's name from "my name is …", "this is …", "I'm …". With `bare`, a short utterance made only
 * of name-like words is taken whole (the answer to "what is your name?"). After "this is" / "I'm" the
 * words must be capitalized when the transcript has capitals at all, so "I'm Calling about" is not a name.
 */
export function extractName(text: string, options: { bare?: boolean } = {}): string | null {
  const mixedCase = /[A-Z]/.test(text) && /[a-z]/.test(text);
  for (const lead of NAME_LEADS) {
    const m = lead.pattern.exec(text);
    if (!m) continue;
    const name = nameFrom(text.slice(m.index + m[0].length), lead.strict, mixedCase);
    if (name) return name;
  }
  if (options.bare) {
    const words = text
      .trim()
      .replace(/[.!]+$/, "")
      .split(/\s+/);
    if (words.length >= 1 && words.length <= 3) {
      const name = nameFrom(words.join(" "), false, mixedCase);
      if (name && name.split(" ").length === words.length) return name;
    }
  }
  return null;
}

// ---------------------------------------------------------------------------------------------------
// Phone numbers.

// biome-ignore format: a table
const DIGIT_WORDS: Record<string, string> = {
  zero: "0", oh: "0", o: "0", one: "1", two: "2", three: "3", four: "4", five: "5", six: "6",
  seven: "7", eight: "8", nine: "9",
};

/** Spoken digit runs ("five five five, one two…", "double five") become digits. */
function spokenDigits(text: string): string {
  const tokens = text.toLowerCase().split(/[\s,.-]+/);
  let digits = 0;
  for (const t of tokens) if (DIGIT_WORDS[t] !== undefined || /^\d+$/.test(t)) digits++;
  if (digits < 7) return text;
  const out: string[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i] ?? "";
    const next = tokens[i + 1] ?? "";
    if ((t === "double" || t === "triple") && DIGIT_WORDS[next] !== undefined) {
      out.push((DIGIT_WORDS[next] ?? "").repeat(t === "double" ? 2 : 3));
      i++;
    } else out.push(DIGIT_WORDS[t] ?? (/^\d+$/.test(t) ? t : ` ${t} `));
  }
  return out.join("");
}

/** The first valid phone number in `text`, in E.164 (US numbers without a country code). */
export function extractPhone(text: string): string | null {
  if (!/\d|zero|one|two|three|four|five|six|seven|eight|nine/i.test(text)) return null;
  for (const candidate of [text, spokenDigits(text)]) {
    const found = findPhoneNumbersInText(candidate, "US");
    const first = found.find((f) => f.number.isValid());
    if (first) return first.number.number;
  }
  return null;
}

// ---------------------------------------------------------------------------------------------------
// Yes / no.

// biome-ignore format: a table
const NO_PHRASES = [
  "no", "nope", "nah", "not really", "not right", "not correct", "that's wrong", "that is wrong",
  "incorrect", "negative", "i don't", "i do not", "don't", "wrong", "not quite", "no thanks",
  "no thank you", "neither",
];
// biome-ignore format: a table
const YES_PHRASES = [
  "yes", "yeah", "yep", "yup", "yea", "correct", "right", "that's right", "sure", "absolutely",
  "definitely", "ok", "okay", "please do", "affirmative", "that works", "sounds good", "of course",
  "exactly", "perfect", "uh huh", "mhm", "i do", "that's me", "it is", "go ahead", "great",
];

const UNSURE = /\b(don't know|dont know|do not know|not sure|no idea|maybe|i guess)\b/;

function firstPhraseAt(words: string[], phrases: readonly string[]): number {
  let best = -1;
  for (const phrase of phrases) {
    const parts = phrase.split(" ");
    for (let i = 0; i + parts.length <= words.length; i++) {
      let ok = true;
      for (let k = 0; k < parts.length; k++) if (words[i + k] !== parts[k]) ok = false;
      if (ok && (best < 0 || i < best)) best = i;
      if (ok) break;
    }
  }
  return best;
}

/** "yes", "no" or null; whichever comes first when both appear ("no, that's right" is a no). */
export function extractYesNo(text: string): "yes" | "no" | null {
  const normalized = normalize(text);
  if (UNSURE.test(normalized)) return null;
  const words = normalized.split(" ");
  const no = firstPhraseAt(words, NO_PHRASES);
  const yes = firstPhraseAt(words, YES_PHRASES);
  if (no < 0 && yes < 0) return null;
  if (no < 0) return "yes";
  if (yes < 0) return "no";
  return no <= yes ? "no" : "yes";
}

// ---------------------------------------------------------------------------------------------------
// A choice among offered options.

/** Something the agent offered ("Tuesday December 8 at 10:00"); `start` is a UTC instant when it is a slot. */
export interface OfferedOption {
  id: string;
  label: string;
  start?: string;
}

// biome-ignore format: a table
const ORDINALS: Record<string, number> = {
  first: 0, "1st": 0, one: 0, second: 1, "2nd": 1, two: 1, third: 2, "3rd": 2, three: 2, fourth: 3,
  "4th": 3, four: 3, fifth: 4, "5th": 4, five: 4,
};

/**
 * Which of `options` the caller chose, as an index, or null: by position ("the second one", "option
 * 2", "the last one"), by the day and hour they name ("Tuesday at 10"), or by words of the label.
 */
export function extractChoice(
  text: string,
  options: readonly OfferedOption[],
  now: Date,
  timeZone: string,
): number | null {
  if (options.length === 0) return null;
  const n = normalize(text);
  if (/\b(last|latest|final) (one|option|slot|time)\b|\bthe last\b/.test(n)) return options.length - 1;
  if (options.length === 1 && /\b(that one|that works|yes|sure|okay|ok)\b/.test(n)) return 0;
  const positional =
    /\b(?:the |option |number |choice |slot )?(first|1st|second|2nd|third|3rd|fourth|4th|fifth|5th)\b(?: one| option| slot| time)?|\b(?:option|number|choice) (one|two|three|four|five|\d)\b/.exec(
      n,
    );
  if (positional) {
    const word = positional[1] ?? positional[2] ?? "";
    const index = /^\d$/.test(word) ? Number(word) - 1 : (ORDINALS[word] ?? -1);
    if (index >= 0 && index < options.length) return index;
  }
  // By the day and/or hour named.
  const said = extractDateTimes(text, now, timeZone)[0];
  if (said) {
    const matches: number[] = [];
    options.forEach((option, index) => {
      if (!option.start) return;
      const at = localParts(new Date(option.start), timeZone);
      const sameDay = said.date === isoDate(at.year, at.month, at.day);
      const sameWeekday = new Date(Date.UTC(at.year, at.month - 1, at.day)).getUTCDay() === said.weekday;
      const dayNamed = /\b(today|tomorrow|mon|tue|wed|thu|fri|sat|sun|\d)/i.test(said.text);
      const timeOk = said.time === null || said.time === `${pad(at.hour)}:${pad(at.minute)}`;
      const dayOk = !dayNamed || sameDay || sameWeekday;
      if (timeOk && dayOk && (said.time !== null || dayNamed)) matches.push(index);
    });
    if (matches.length === 1) return matches[0] ?? null;
  } else {
    // A bare hour chrono does not take as a time ("how about 9", "the 2:30").
    const bare = /\b(\d{1,2})(?::(\d{2}))?\s*(am|pm|a m|p m)?$/.exec(n);
    if (bare) {
      const h = Number(bare[1]);
      const minute = Number(bare[2] ?? 0);
      const meridiem = bare[3]?.replace(" ", "");
      const hours =
        meridiem === "pm" ? [(h % 12) + 12] : meridiem === "am" ? [h % 12] : h < 12 ? [h, h + 12] : [h];
      const matches = options
        .map((o, index) => ({ o, index }))
        .filter(({ o }) => {
          if (!o.start) return false;
          const at = localParts(new Date(o.start), timeZone);
          return hours.includes(at.hour) && at.minute === minute;
        });
      if (matches.length === 1) return matches[0]?.index ?? null;
    }
  }
  // By distinctive words of the label ("the Main Street one").
  const words = new Set(n.split(" "));
  let best: number | null = null;
  let bestScore = 0;
  let tie = false;
  options.forEach((option, index) => {
    const labelWords = normalize(option.label)
      .split(" ")
      .filter((w) => w.length > 3);
    const score = labelWords.filter((w) => words.has(w)).length;
    if (score > bestScore) {
      best = index;
      bestScore = score;
      tie = false;
    } else if (score === bestScore && score > 0) tie = true;
  });
  return tie ? null : best;
}
