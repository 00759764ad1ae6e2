import { describe, expect, it } from "vitest";
import { mergeOrder } from "../../workers/world/ingest";

describe("mergeOrder", () => {
  it("keeps the older entity", () => {
    const older = { id: "ent_zzzzzzzzzz", createdAt: "2026-01-01T00:00:00.000Z" };
    const newer = { id: "ent_aaaaaaaaaa", createdAt: "2026-02-01T00:00:00.000Z" };
    expect(mergeOrder(older, newer)).toEqual({ keep: older.id, merge: newer.id });
    expect(mergeOrder(newer, older)).toEqual({ keep: older.id, merge: newer.id });
  });

  it("gives both sides the same answer when the entities were created together", () => {
    const at = "2026-03-01T00:00:00.000Z";
    const a = { id: "ent_aaaaaaaaaa", createdAt: at };
    const b = { id: "ent_bbbbbbbbbb", createdAt: at };
    expect(mergeOrder(a, b)).toEqual(mergeOrder(b, a));
    expect(mergeOrder(b, a)).toEqual({ keep: a.id, merge: b.id });
  });
});
