/**
 * A data source's business hours: polls run only inside them, and a polling source is overdue only for
 * the time they were open. Pure, so the poller (workers/ehr/inbound.ts) and the pipeline's health rules
 * (shared/pipeline/health.ts) read the clinic's clock the same way, tested without a runtime.
 */

/** The business-hours gate as stored on a data source (`BusinessHoursSchema` checks it on the way in). */
export interface BusinessHours {
  timezone: string;
  /** ISO weekdays, 1 = Monday … 7 = Sunday. */
  days: number[];
  /** `HH:MM`, 24-hour. */
  start: string;
  end: string;
}

const WEEKDAYS: Record<string, number> = { Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6, Sun: 7 };

const minutesOf = (hhmm: string) => {
  const [h, m] = hhmm.split(":").map(Number);
  return (h ?? 0) * 60 + (m ?? 0);
};

/** The local weekday and minute of the day at `at` in `timezone`. */
function localClock(timezone: string, at: Date): { weekday: number; minute: number } {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone: timezone,
    weekday: "short",
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
  }).formatToParts(at);
  const part = (type: string) => parts.find((p) => p.type === type)?.value ?? "";
  return {
    weekday: WEEKDAYS[part("weekday")] ?? 1,
    minute: Number(part("hour")) * 60 + Number(part("minute")),
  };
}

/**
 * When the business-hours window that contains `at` opened, or null when `at` is outside business
 * hours (`start` inclusive, `end` exclusive). A window whose end is before its start runs overnight and
 * belongs to the day it opened. A gate that cannot be read (unknown time zone) counts as always open, so
 * it never stops polls nor hides an overdue source.
 */
export function openedAt(gate: BusinessHours, at: Date): Date | null {
  let clock: { weekday: number; minute: number };
  try {
    clock = localClock(gate.timezone, at);
  } catch {
    return new Date(0);
  }
  const start = minutesOf(gate.start);
  const end = minutesOf(gate.end);
  // Back to the window's first minute: whole minutes ago, less the seconds already into this minute.
  const since = (minutes: number) =>
    new Date(at.getTime() - minutes * 60_000 - at.getUTCSeconds() * 1000 - at.getUTCMilliseconds());
  if (start < end) {
    const open = gate.days.includes(clock.weekday) && clock.minute >= start && clock.minute < end;
    return open ? since(clock.minute - start) : null;
  }
  if (clock.minute >= start && gate.days.includes(clock.weekday)) return since(clock.minute - start);
  const yesterday = clock.weekday === 1 ? 7 : clock.weekday - 1;
  if (clock.minute < end && gate.days.includes(yesterday)) return since(clock.minute + 1440 - start);
  return null;
}

/** Whether `at` falls inside the hours, on the clinic's own clock; no hours means always. */
export function insideBusinessHours(hours: BusinessHours | null, at: Date): boolean {
  return !hours || openedAt(hours, at) !== null;
}
