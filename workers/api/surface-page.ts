/**
 * The patient's side of surfaces, outside `/v1`: the link's token is the credential (checked by
 * `checkToken` on every request: signature with the pinned algorithm, audience, expiry, the surface's
 * current token, not revoked), and the workspace comes only from its verified claims.
 *
 * - `GET /s/{token}`: the form at the section where the patient left off (`?section=N` for another),
 *   or the completion screen once submitted.
 * - `POST /s/{token}`: a section posted without JavaScript (urlencoded, or multipart when it holds an
 *   upload): saves what changed, then re-renders with errors, shows questions an answer just revealed,
 *   redirects (303) to the next or previous section, or submits on the last.
 * - `POST /s/{token}/fields/{key}`: the script's autosave, `{ "value": … }` → the save's result plus
 *   the keys of the fields now visible (conditions evaluated once, on the server).
 * - `POST /s/{token}/uploads/{key}`: a photo, file or drawn signature (multipart `file`).
 * - `GET /l/{code}`: the short SMS link → 302 to a freshly issued token.
 *
 * Refused links get a friendly HTML page with a 4xx status and nothing from the surface. Every answer
 * is `no-store`, `noindex`, `no-referrer`, with a Content-Security-Policy allowing only this origin and
 * the page's own inline style and script (by nonce). This router is mounted before the API's 1 MiB JSON
 * body limit (uploads go up to 10 MiB) and applies its own limits.
 */
import type { Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import { z } from "zod";
import { randomBytes, toBase64Url } from "../../shared/encoding";
import type { Answers, AnswerValue, Field, SurfaceSpec } from "../../shared/surfaces/spec";
import { isInput, isUpload } from "../../shared/surfaces/spec";
import type { AppEnv } from "../env";
import type { Surface } from "../surfaces/contracts";
import {
  contentSecurityPolicy,
  type PageState,
  type RefusalKind,
  renderCompletion,
  renderRefusal,
  renderSurfacePage,
  wizard,
} from "../surfaces/page";
import * as service from "../surfaces/service";
import { checkToken, resolveShortLink } from "../surfaces/tokens";
import { router } from "./router";

/** The largest page post (a section's fields, or one upload with its multipart framing). */
export const MAX_PAGE_POST_BYTES = 10 * 1024 * 1024 + 64 * 1024;
/** The largest autosave body. */
const MAX_FIELD_BYTES = 64 * 1024;

type Ctx = Context<AppEnv>;

const nonce = () => toBase64Url(randomBytes(16));

/** Headers every answer from these routes carries. */
function pageHeaders(c: Ctx, csp: string) {
  c.header("Content-Security-Policy", csp);
  c.header("Cache-Control", "no-store");
  c.header("Referrer-Policy", "no-referrer");
  c.header("X-Robots-Tag", "noindex, nofollow");
}

function html(
  c: Ctx,
  body: string,
  status: 200 | 401 | 403 | 404 | 410 | 413 | 422 | 503,
  n: string,
  logo?: string,
) {
  pageHeaders(c, contentSecurityPolicy(n, logo));
  return c.html(body, status);
}

function refuse(c: Ctx, kind: RefusalKind, status: 401 | 403 | 404 | 410 | 413) {
  const n = nonce();
  return html(c, renderRefusal(kind, n), status, n);
}

const REFUSAL_STATUS = {
  malformed: [404, "invalid"],
  bad_signature: [401, "invalid"],
  wrong_audience: [403, "invalid"],
  revoked: [410, "invalid"],
  expired: [410, "expired"],
  unknown: [404, "not_found"],
} as const satisfies Record<string, readonly [401 | 403 | 404 | 410, RefusalKind]>;

type Opened = { workspaceId: string; surface: Surface; answers: Answers };

/** The surface a token opens, or the refusal to answer with. `open` marks a first view. */
async function load(c: Ctx, mode: "open" | "read"): Promise<Opened | Response> {
  const check = await checkToken(c.env, c.req.param("token") ?? "");
  if (!check.ok) {
    const [status, kind] = REFUSAL_STATUS[check.reason];
    return refuse(c, kind, status);
  }
  const { workspaceId, surfaceId } = check;
  if (mode === "open") {
    const opened = await service.open(c.env, workspaceId, surfaceId);
    if (!opened) return refuse(c, "not_found", 404);
    return { workspaceId, ...opened };
  }
  const surface = await service.get(c.env, workspaceId, surfaceId);
  if (!surface) return refuse(c, "not_found", 404);
  return { workspaceId, surface, answers: await service.answers(c.env, workspaceId, surfaceId) };
}

const logoOf = (spec: SurfaceSpec) => spec.branding.logo_url;

function renderSection(
  c: Ctx,
  opened: Opened,
  sectionIndex: number | null,
  extra: Pick<PageState, "errors" | "notice"> = {},
  status: 200 | 422 = 200,
) {
  const { surface, answers } = opened;
  const n = nonce();
  const view = wizard(surface.spec, answers, sectionIndex);
  const state: PageState = {
    token: c.req.param("token")!,
    ...view,
    ...extra,
    nonce: n,
    today: new Date().toISOString().slice(0, 10),
  };
  return html(c, renderSurfacePage(surface.spec, answers, state), status, n, logoOf(surface.spec));
}

function completion(c: Ctx, spec: SurfaceSpec) {
  const n = nonce();
  return html(c, renderCompletion(spec, n), 200, n, logoOf(spec));
}

const tooLarge = (c: Ctx, limit: number) => {
  const length = Number(c.req.header("Content-Length") ?? "0");
  return Number.isFinite(length) && length > limit;
};

/** What the form posted for one field, as the service takes it; `undefined` when nothing was sent. */
function postedValue(field: Field, form: FormData): AnswerValue | File | null | undefined {
  const raw = form.getAll(field.key);
  switch (field.field_type) {
    case "checkbox":
      return raw.length > 0;
    case "multiselect":
      return raw.filter((v): v is string => typeof v === "string");
    case "photo":
    case "file":
    case "signature": {
      const file = raw.find((v): v is File => typeof v !== "string" && v.size > 0);
      return file ?? undefined;
    }
    default: {
      const text = raw.find((v): v is string => typeof v === "string");
      if (text === undefined) return undefined;
      const trimmed = text.trim();
      if (trimmed === "") return null;
      if (field.field_type === "number") {
        const n = Number(trimmed);
        return Number.isFinite(n) ? n : trimmed;
      }
      return text;
    }
  }
}

const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
const blank = (v: unknown) =>
  v === undefined || v === null || v === "" || (Array.isArray(v) && v.length === 0);

/**
 * Saves a posted section: every field of it that is visible given the answers plus what was posted
 * (so a field that a new choice hides is not saved), and that changed. Returns the errors by key.
 */
async function saveSection(
  c: Ctx,
  opened: Opened,
  fields: Field[],
  form: FormData,
): Promise<Record<string, string>> {
  const { workspaceId, surface, answers } = opened;
  const posted = new Map<string, AnswerValue | File | null>();
  for (const field of fields) {
    if (!isInput(field)) continue;
    const value = postedValue(field, form);
    if (value === undefined) continue;
    // A sensitive field is never sent back to the page: empty keeps the stored answer.
    if (field.sensitive && blank(value)) continue;
    posted.set(field.key, value);
  }
  const merged: Answers = { ...answers };
  for (const [key, value] of posted) {
    if (value === null) delete merged[key];
    else if (!(value instanceof File)) merged[key] = value;
  }
  const visible = new Set(wizard(surface.spec, merged, null).visible);
  const errors: Record<string, string> = {};
  for (const field of fields) {
    if (!posted.has(field.key) || !visible.has(field.key)) continue;
    const value = posted.get(field.key)!;
    const result =
      value instanceof File
        ? await service.saveUpload(c.env, workspaceId, surface.id, field.key, value)
        : same(value, answers[field.key]) || (blank(value) && blank(answers[field.key]))
          ? null
          : await service.saveField(c.env, workspaceId, surface.id, field.key, value);
    if (result && !result.ok) errors[field.key] = result.error ?? "This answer could not be saved";
  }
  return errors;
}

const FieldSave = z.strictObject({ value: z.unknown() });

export const surfacePageApi = router()
  .use(
    "/s/*",
    bodyLimit({ maxSize: MAX_PAGE_POST_BYTES, onError: (c) => refuse(c as Ctx, "too_large", 413) }),
  )
  .get("/s/:token", async (c) => {
    const opened = await load(c, "open");
    if (opened instanceof Response) return opened;
    if (opened.surface.status === "completed") return completion(c, opened.surface.spec);
    const section = Number.parseInt(c.req.query("section") ?? "", 10);
    return renderSection(c, opened, Number.isInteger(section) ? section : null);
  })
  .post("/s/:token", async (c) => {
    const opened = await load(c, "read");
    if (opened instanceof Response) return opened;
    const { workspaceId, surface } = opened;
    const self = `/s/${c.req.param("token")}`;
    // A second submit (a double tap, a resent form) lands on the completion screen; nothing is stored again.
    if (surface.status === "completed") return c.redirect(self, 303);
    const form = await c.req.formData();
    const action = String(form.get("_action") ?? "next");
    const sectionIndex = Number.parseInt(String(form.get("_section") ?? ""), 10);
    const before = wizard(surface.spec, opened.answers, Number.isInteger(sectionIndex) ? sectionIndex : null);
    const current = before.sections[before.position]!;
    const errors = await saveSection(c, opened, current.fields, form);
    const answers = await service.answers(c.env, workspaceId, surface.id);
    const after: Opened = { ...opened, answers };
    if (action === "back") {
      const view = wizard(surface.spec, answers, current.index);
      const previous = view.sections[Math.max(view.position - 1, 0)]!;
      return c.redirect(`${self}?section=${previous.index}`, 303);
    }
    if (Object.keys(errors).length > 0) return renderSection(c, after, current.index, { errors }, 422);
    // Questions that an answer in this section just revealed: show them before moving on.
    const shown = new Set(String(form.get("_shown") ?? "").split(","));
    const view = wizard(surface.spec, answers, current.index);
    const revealed = current.fields.filter(
      (f) => isInput(f) && view.visible.has(f.key) && !shown.has(f.key) && blank(answers[f.key]),
    );
    if (revealed.length > 0) {
      return renderSection(c, after, current.index, {
        notice: "Your answers added questions to this page. Please answer them too.",
      });
    }
    const unanswered = current.fields.filter((f) => view.missing.includes(f.key));
    if (unanswered.length > 0) {
      const missing = Object.fromEntries(
        unanswered.map((f) => [
          f.key,
          f.field_type === "checkbox" ? "Tick the box to continue" : "This question needs an answer",
        ]),
      );
      return renderSection(c, after, current.index, { errors: missing }, 422);
    }
    if (action === "submit") {
      const result = await service.submit(c.env, workspaceId, surface.id);
      if (result.ok) return c.redirect(self, 303);
      const failed = result.errors ?? {};
      const first = view.sections.find((s) => s.fields.some((f) => failed[f.key]));
      return renderSection(c, after, first?.index ?? current.index, { errors: failed }, 422);
    }
    const next = view.sections[Math.min(view.position + 1, view.sections.length - 1)]!;
    return c.redirect(`${self}?section=${next.index}`, 303);
  })
  .post("/s/:token/fields/:key", async (c) => {
    if (tooLarge(c, MAX_FIELD_BYTES)) return refuse(c, "too_large", 413);
    const opened = await load(c, "read");
    if (opened instanceof Response) return opened;
    const { workspaceId, surface } = opened;
    pageHeaders(c, "default-src 'none'");
    const parsed = FieldSave.safeParse(await c.req.json().catch(() => undefined));
    if (!parsed.success) return c.json({ ok: false, error: "Send { value }" }, 400);
    const key = c.req.param("key");
    const field = surface.spec.fields.find((f) => f.key === key && isInput(f) && !isUpload(f));
    if (!field) return c.json({ ok: false, error: "No such question" }, 404);
    const result = await service.saveField(c.env, workspaceId, surface.id, key, parsed.data.value ?? null);
    const answers = await service.answers(c.env, workspaceId, surface.id);
    return c.json(
      { ...result, visible: [...wizard(surface.spec, answers, null).visible] },
      result.ok ? 200 : 422,
    );
  })
  .post("/s/:token/uploads/:key", async (c) => {
    const opened = await load(c, "read");
    if (opened instanceof Response) return opened;
    const { workspaceId, surface } = opened;
    pageHeaders(c, "default-src 'none'");
    const key = c.req.param("key");
    const field = surface.spec.fields.find((f) => f.key === key && isUpload(f));
    if (!field) return c.json({ ok: false, error: "No such question" }, 404);
    const form = await c.req.formData().catch(() => null);
    const file = form?.get("file");
    if (!file || typeof file === "string" || file.size === 0)
      return c.json({ ok: false, error: "Choose a file to send" }, 400);
    const result = await service.saveUpload(c.env, workspaceId, surface.id, key, file);
    const answers = await service.answers(c.env, workspaceId, surface.id);
    return c.json(
      { ...result, visible: [...wizard(surface.spec, answers, null).visible] },
      result.ok ? 200 : 422,
    );
  })
  .get("/l/:code", async (c) => {
    const resolved = await resolveShortLink(c.env, c.req.param("code"));
    if (!resolved) return refuse(c, "invalid", 404);
    pageHeaders(c, "default-src 'none'");
    return c.redirect(`/s/${resolved.token}`, 302);
  });
