/**
 * The patient's page `/s/{token}`: HTML rendered at the edge as pure functions of the spec, the stored
 * answers and the page state (which wizard section, which errors). No framework, no third-party request,
 * nothing fetched after the document but the uploads the patient makes.
 *
 * - Works without JavaScript: each wizard section is a plain `<form method=post>`; the server
 *   (workers/api/surface-page.ts) validates, saves and re-renders with errors or redirects to the next
 *   section, and the last section submits.
 * - Better with it: one small inline script autosaves each field on `change`
 *   (`POST /s/{token}/fields/{key}`), uploads files and the drawn signature
 *   (`POST /s/{token}/uploads/{key}`), and keeps the progress bar current.
 * - Conditions applied live without a second evaluator: the field save answers with the keys of the
 *   fields now visible (the server's `visibleFields` over the stored answers), and the script shows and
 *   hides (and disables) the fields of the current section to match. Without JavaScript the same
 *   function runs on the section's POST, and a field that a choice just revealed is shown on the re-render.
 * - Accessibility: every input has a `<label for>`, choices are `<fieldset>`/`<legend>`, descriptions,
 *   prefill notes and errors are tied with `aria-describedby`, an error summary links to each field, the
 *   colors from the spec are adjusted until text reaches 4.5:1, and focus follows the DOM order.
 * - Sensitive fields are never written into the page once saved (nor prefilled): an empty input keeps
 *   the stored answer.
 *
 * The inline style and script carry a per-response nonce named in the Content-Security-Policy.
 */
import type { Answers, AnswerValue, Field, SurfaceSpec } from "../../shared/surfaces/spec";
import { isInput, isUpload } from "../../shared/surfaces/spec";
import { DEFAULT_ACCEPT, progress, sectionsOf, visibleFields } from "../../shared/surfaces/validate";

/** A wizard page as the renderer sees it: its index in the spec (stable while answers change) and fields. */
export interface WizardSection {
  index: number;
  title: string;
  description?: string;
  /** Every field the section lists, visible or not (hidden ones render `hidden` for live conditions). */
  fields: Field[];
}

/** Where the patient is in the wizard, from the spec and the answers (validate.ts decides visibility). */
export interface WizardView {
  sections: WizardSection[];
  position: number;
  visible: ReadonlySet<string>;
  progress: { answered: number; required: number };
  /** Visible required fields without an answer. */
  missing: string[];
}

/**
 * The visible sections (those with a visible field), and the one to show: `requested` (a spec section
 * index; the next visible one if it is hidden now), else where the patient left off (the first section
 * with a required question unanswered, or the last).
 */
export function wizard(spec: SurfaceSpec, answers: Answers, requested: number | null): WizardView {
  const visible = new Set(visibleFields(spec, answers).map((f) => f.key));
  const pages = sectionsOf(spec).map((page, index) => ({ ...page, index }));
  const shown = pages.filter((page) => page.fields.some((f) => visible.has(f.key)));
  const sections = shown.length > 0 ? shown : pages.slice(0, 1);
  const { answered, required, missing } = progress(spec, answers);
  const needed = new Set(missing);
  let position =
    requested === null
      ? sections.findIndex((s) => s.fields.some((f) => needed.has(f.key)))
      : sections.findIndex((s) => s.index >= requested);
  if (position < 0) position = Math.max(sections.length - 1, 0);
  return { sections, position, visible, progress: { answered, required }, missing };
}

/** What the renderer needs besides the spec and the answers. */
export interface PageState {
  /** The link's token, for the form's action and the script's fetches. */
  token: string;
  /** The spec's sections that are visible now, in order (a spec without sections is one). */
  sections: WizardSection[];
  /** Index into `sections` of the one shown. */
  position: number;
  /** Keys of the fields visible now. */
  visible: ReadonlySet<string>;
  progress: { answered: number; required: number };
  errors?: Record<string, string>;
  /** A line above the form (for example: new questions appeared). */
  notice?: string;
  nonce: string;
  /** Today as `YYYY-MM-DD`, for `today` date bounds (passed in so rendering stays pure). */
  today: string;
}

const ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};
export const esc = (value: unknown): string => String(value).replace(/[&<>"']/g, (ch) => ESCAPES[ch]!);

// ---- colors: the spec's branding, adjusted to reach WCAG AA contrast ----

function luminance(hex: string): number {
  const [r, g, b] = [1, 3, 5].map((i) => {
    const c = Number.parseInt(hex.slice(i, i + 2), 16) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  }) as [number, number, number];
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/** The WCAG contrast ratio of two `#rrggbb` colors (1 to 21). */
export function contrastRatio(a: string, b: string): number {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x) as [number, number];
  return (hi + 0.05) / (lo + 0.05);
}

function mix(a: string, b: string, t: number): string {
  const channel = (hex: string, i: number) => Number.parseInt(hex.slice(i, i + 2), 16);
  return `#${[1, 3, 5]
    .map((i) =>
      Math.round(channel(a, i) * (1 - t) + channel(b, i) * t)
        .toString(16)
        .padStart(2, "0"),
    )
    .join("")}`;
}

/** `color`, moved toward `toward` until it reaches 4.5:1 on `background`. */
function readable(color: string, background: string, toward: string): string {
  let out = color;
  for (let t = 0.1; contrastRatio(out, background) < 4.5 && t <= 1; t += 0.1) out = mix(color, toward, t);
  return out;
}

/** The page's palette from the spec's branding: every text color at least 4.5:1 on what it sits on. */
export function palette(branding: SurfaceSpec["branding"]) {
  const bg = branding.background_color.toLowerCase();
  const light = contrastRatio("#111827", bg) >= contrastRatio("#ffffff", bg);
  const text = light ? "#111827" : "#ffffff";
  const brand = branding.primary_color.toLowerCase();
  // The brand color fills the main button as given (its text is whichever of dark or white reads better);
  // where the color is text or an outline on the background, it is darkened (or lightened) to 4.5:1.
  const onPrimary =
    contrastRatio("#ffffff", brand) >= contrastRatio("#111827", brand) ? "#ffffff" : "#111827";
  return {
    bg,
    text,
    muted: readable(light ? "#4b5563" : "#d1d5db", bg, text),
    brand,
    primary: readable(brand, bg, text),
    onPrimary,
    error: readable(light ? "#b91c1c" : "#fca5a5", bg, text),
    border: light ? "#6b7280" : "#9ca3af",
    field: light ? "#ffffff" : "#111827",
  };
}

const FONTS = {
  system: 'system-ui,-apple-system,"Segoe UI",Roboto,sans-serif',
  serif: 'Georgia,"Times New Roman",serif',
  rounded: 'ui-rounded,"SF Pro Rounded",system-ui,sans-serif',
} as const;

/** The stylesheet, small and mobile-first; colors as custom properties from the branding. */
export const PAGE_STYLE = `*{box-sizing:border-box}body{margin:0;background:var(--bg);color:var(--tx);font:17px/1.5 var(--font)}
main{max-width:36rem;margin:0 auto;padding:1rem 1rem 3rem}header{padding:.75rem 1rem;border-bottom:4px solid var(--pb)}
header img{max-height:40px;max-width:60%;display:block;margin:0 auto}h1{font-size:1.5rem;line-height:1.25;margin:.5rem 0}
h2{font-size:1.2rem;margin:1.5rem 0 .5rem}p{margin:.25rem 0 .75rem}.muted,.hint{color:var(--mu);font-size:.95rem}
.progress{margin:1rem 0}.progress progress{width:100%;height:.6rem;accent-color:var(--pr)}
.field{margin:0 0 1.25rem;padding:0;border:0;min-width:0}.field[hidden]{display:none}
label,legend{display:block;font-weight:600;margin-bottom:.25rem;padding:0}.req{color:var(--er)}
input:not([type=checkbox]):not([type=radio]),select,textarea{display:block;width:100%;font:inherit;color:var(--tx);background:var(--fd);border:1px solid var(--bd);border-radius:.4rem;padding:.6rem .7rem;min-height:2.75rem}
textarea{min-height:6rem}.opt{display:flex;gap:.6rem;align-items:flex-start;padding:.45rem 0;font-weight:400}
.opt input{width:1.35rem;height:1.35rem;margin:.1rem 0 0;accent-color:var(--pr);flex:none}
:focus-visible{outline:3px solid var(--pr);outline-offset:2px}
[aria-invalid=true]{border-color:var(--er)!important;border-width:2px!important}.err{color:var(--er);font-weight:600;margin:.25rem 0 0}
.note{border-left:4px solid var(--pr);padding:.25rem .6rem;margin:.35rem 0}.saved{font-size:.9rem;color:var(--mu);min-height:1.4em;margin:.2rem 0 0}
.summary{border:2px solid var(--er);border-radius:.4rem;padding:.5rem 1rem;margin:1rem 0}.summary a{color:var(--er)}
.nav{display:flex;gap:.75rem;margin-top:1.5rem}button{font:inherit;font-weight:600;border-radius:.4rem;padding:.7rem 1.2rem;min-height:2.75rem;cursor:pointer}
.primary{flex:1;background:var(--pb);color:var(--op);border:2px solid var(--pr)}.secondary{background:transparent;color:var(--pr);border:2px solid var(--pr)}
canvas{display:block;width:100%;height:160px;border:1px dashed var(--bd);border-radius:.4rem;background:#fff;touch-action:none}
.sig-tools{display:flex;gap:.5rem;margin:.4rem 0}.sig-tools button{padding:.4rem .8rem;min-height:2.5rem}.js .sig-file{display:none}.sig-pad{display:none}.js .sig-pad{display:block}
.done{text-align:center;padding-top:2rem}.done svg{width:64px;height:64px}`;

/** The script: autosave on change, live conditions from the server's answer, uploads, the signature pad. */
export const PAGE_SCRIPT = `(()=>{const D=document,f=D.querySelector("form.sf");D.documentElement.classList.add("js");if(!f)return;
const base=location.pathname.replace(/\\/$/,""),q=(s,r)=>(r||D).querySelector(s),qa=(s,r)=>[...(r||D).querySelectorAll(s)];
const wrap=k=>q('[data-key="'+k+'"]',f),st=(k,t)=>{const e=q("#st-"+k);if(e)e.textContent=t};
function setErr(k,m){const w=wrap(k);if(!w)return;let e=q("#err-"+k);const i=qa("input,select,textarea",w);
if(m){if(!e){e=D.createElement("p");e.id="err-"+k;e.className="err";q("#st-"+k).before(e)}e.textContent=m;i.forEach(x=>{x.setAttribute("aria-invalid","true");const d=(x.getAttribute("aria-describedby")||"").split(" ");if(!d.includes(e.id))x.setAttribute("aria-describedby",d.concat(e.id).join(" ").trim())})}
else{if(e)e.remove();i.forEach(x=>x.removeAttribute("aria-invalid"))}}
function apply(j){if(j.visible){const v=new Set(j.visible);qa("[data-key]",f).forEach(w=>{const on=v.has(w.dataset.key);w.hidden=!on;qa("input,select,textarea,button",w).forEach(x=>x.disabled=!on)})}
const p=q(".progress progress"),t=q("#progress-text");if(p&&j.required!=null){p.max=Math.max(j.required,1);p.value=j.answered;if(t)t.textContent=j.answered+" of "+j.required+" required questions answered"}}
function value(k){const w=wrap(k),els=qa('[name="'+k+'"]',w);if(!els.length)return null;const t=w.dataset.type;
if(t==="multiselect")return els.filter(e=>e.checked).map(e=>e.value);if(t==="checkbox")return els[0].checked;
if(els[0].type==="radio"){const c=els.find(e=>e.checked);return c?c.value:null}return els[0].value}
async function send(k,url,opts){st(k,"Saving…");try{const r=await fetch(url,opts),j=await r.json();setErr(k,j.ok?"":j.error||"Not saved");st(k,j.ok?"Saved":"");apply(j);return j.ok}catch(e){st(k,"Not saved. Check your connection, or reload the page.");return false}}
const saveField=k=>{const w=wrap(k);if(w&&w.dataset.sensitive&&value(k)==="")return;send(k,base+"/fields/"+k,{method:"POST",headers:{"content-type":"application/json"},body:JSON.stringify({value:value(k)})})};
const upload=(k,blob,name)=>{const b=new FormData;b.append("file",blob,name);return send(k,base+"/uploads/"+k,{method:"POST",body:b})};
f.addEventListener("change",e=>{const x=e.target,w=x.closest("[data-key]");if(!w)return;const k=w.dataset.key;
if(x.type==="file"){if(x.files[0])upload(k,x.files[0],x.files[0].name).then(ok=>{if(ok)x.value=""})}else saveField(k)});
qa("canvas.sig").forEach(c=>{const k=c.dataset.for,g=c.getContext("2d");let down=false,drawn=false;
const fit=()=>{const r=c.getBoundingClientRect();c.width=r.width*devicePixelRatio;c.height=r.height*devicePixelRatio;g.scale(devicePixelRatio,devicePixelRatio);g.lineWidth=2.5;g.lineCap="round";g.strokeStyle="#111"};fit();
const pt=e=>{const r=c.getBoundingClientRect();return[e.clientX-r.left,e.clientY-r.top]};
c.addEventListener("pointerdown",e=>{down=true;c.setPointerCapture(e.pointerId);g.beginPath();g.moveTo(...pt(e))});
c.addEventListener("pointermove",e=>{if(!down)return;g.lineTo(...pt(e));g.stroke();drawn=true});
c.addEventListener("pointerup",()=>{down=false});
q('[data-sig="clear"]',c.parentNode).addEventListener("click",()=>{g.clearRect(0,0,c.width,c.height);drawn=false;st(k,"")});
q('[data-sig="save"]',c.parentNode).addEventListener("click",()=>{if(!drawn){setErr(k,"Draw your signature first");return}c.toBlob(b=>upload(k,b,"signature.png"),"image/png")})});
const s=q(".summary");if(s)s.focus()})();`;

/** The page's Content-Security-Policy: same origin only; the inline style and script by nonce. */
export function contentSecurityPolicy(nonce: string, logoUrl?: string): string {
  const logo = logoUrl?.startsWith("https://") ? ` ${new URL(logoUrl).origin}` : "";
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src 'nonce-${nonce}'`,
    `img-src 'self' data: blob:${logo}`,
    "connect-src 'self'",
    "form-action 'self'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
}

function document(
  spec: Pick<SurfaceSpec, "branding"> | null,
  title: string,
  body: string,
  nonce: string,
  withScript: boolean,
): string {
  const branding = spec?.branding ?? {
    primary_color: "#0f766e",
    background_color: "#ffffff",
    font: "system" as const,
  };
  const p = palette(branding);
  const vars = `:root{--bg:${p.bg};--tx:${p.text};--mu:${p.muted};--pr:${p.primary};--pb:${p.brand};--op:${p.onPrimary};--er:${p.error};--bd:${p.border};--fd:${p.field};--font:${FONTS[branding.font]}}`;
  const logo =
    spec && "logo_url" in spec.branding && spec.branding.logo_url
      ? `<header><img src="${esc(spec.branding.logo_url)}" alt=""></header>`
      : "<header></header>";
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><meta name="robots" content="noindex"><link rel="icon" href="data:,"><title>${esc(title)}</title><style nonce="${nonce}">${vars}${PAGE_STYLE}</style></head><body>${logo}<main id="main">${body}</main>${withScript ? `<script nonce="${nonce}">${PAGE_SCRIPT}</script>` : ""}</body></html>`;
}

const isEmpty = (value: AnswerValue | undefined | null): boolean =>
  value === undefined || value === null || value === "" || (Array.isArray(value) && value.length === 0);

const isUploadAnswer = (value: unknown): value is { upload: string; content_type: string; bytes: number } =>
  typeof value === "object" && value !== null && !Array.isArray(value) && "upload" in value;

const kb = (bytes: number) => (bytes < 1024 ? `${bytes} bytes` : `${Math.round(bytes / 1024)} KB`);

function resolveDate(bound: string | undefined, today: string): string | undefined {
  return bound === "today" ? today : bound;
}

/** The value an input shows: the stored answer, else the prefill (never for a sensitive field). */
function shownValue(field: Field, answers: Answers): { value: AnswerValue | undefined; prefilled: boolean } {
  const answer = answers[field.key];
  if (!isEmpty(answer)) return { value: field.sensitive ? undefined : answer, prefilled: false };
  if (field.prefill_value !== undefined && !field.sensitive)
    return { value: field.prefill_value, prefilled: true };
  return { value: undefined, prefilled: false };
}

function renderInput(field: Field, answers: Answers, state: PageState): string {
  const key = field.key;
  const id = `f-${key}`;
  const error = state.errors?.[key];
  const answer = answers[key];
  const { value, prefilled } = shownValue(field, answers);
  const described: string[] = [];
  const notes: string[] = [];
  if (field.description) {
    described.push(`d-${key}`);
    notes.push(`<p class="hint" id="d-${key}">${esc(field.description)}</p>`);
  }
  if (prefilled) {
    described.push(`p-${key}`);
    notes.push(
      `<p class="note" id="p-${key}">This is what we have on file. Please check it and correct it if it is wrong.</p>`,
    );
  }
  if (field.sensitive && !isEmpty(answer)) {
    described.push(`m-${key}`);
    notes.push(
      `<p class="note" id="m-${key}">Saved and hidden for your privacy. Leave this empty to keep it, or type a new answer to replace it.</p>`,
    );
  }
  if (isUpload(field) && isUploadAnswer(answer)) {
    described.push(`m-${key}`);
    notes.push(
      `<p class="note" id="m-${key}">Received (${esc(kb(answer.bytes))}). Choose another only to replace it.</p>`,
    );
  }
  const errorHtml = error ? `<p class="err" id="err-${key}">${esc(error)}</p>` : "";
  if (error) described.push(`err-${key}`);
  const status = `<p class="saved" id="st-${key}" role="status"></p>`;
  const aria = `${described.length ? ` aria-describedby="${described.join(" ")}"` : ""}${error ? ' aria-invalid="true"' : ""}${field.required ? ' aria-required="true"' : ""}`;
  const requiredMark = field.required ? ' <span class="req" aria-hidden="true">*</span>' : "";
  const label = `${esc(field.label)}${requiredMark}`;
  const v = field.validation;
  const str =
    value === undefined || isUploadAnswer(value)
      ? ""
      : Array.isArray(value)
        ? value.join(", ")
        : String(value);
  const attr = (name: string, x: unknown) => (x === undefined || x === null ? "" : ` ${name}="${esc(x)}"`);
  const textAttrs = `${attr("maxlength", v?.max_length)}${attr("placeholder", field.placeholder)}`;

  const single = (control: string) =>
    `<label for="${id}">${label}</label>${notes.join("")}${control}${errorHtml}${status}`;
  const group = (controls: string) =>
    `<legend>${label}</legend>${notes.join("")}${controls}${errorHtml}${status}`;

  switch (field.field_type) {
    case "text":
    case "phone":
    case "email": {
      const type = field.field_type === "text" ? "text" : field.field_type === "phone" ? "tel" : "email";
      const auto =
        field.field_type === "phone"
          ? ' autocomplete="tel"'
          : field.field_type === "email"
            ? ' autocomplete="email"'
            : "";
      return single(
        `<input id="${id}" name="${key}" type="${type}"${auto} value="${esc(str)}"${textAttrs}${aria}>`,
      );
    }
    case "textarea":
      return single(`<textarea id="${id}" name="${key}"${textAttrs}${aria}>${esc(str)}</textarea>`);
    case "date":
      return single(
        `<input id="${id}" name="${key}" type="date" value="${esc(str)}"${attr("min", resolveDate(v?.min_date, state.today))}${attr("max", resolveDate(v?.max_date, state.today))}${aria}>`,
      );
    case "number":
      return single(
        `<input id="${id}" name="${key}" type="number" inputmode="decimal" step="any" value="${esc(str)}"${attr("min", v?.min)}${attr("max", v?.max)}${attr("placeholder", field.placeholder)}${aria}>`,
      );
    case "select": {
      const options = field.options ?? [];
      if (options.length > 6) {
        return single(
          `<select id="${id}" name="${key}"${aria}><option value="">Choose…</option>${options
            .map(
              (o) =>
                `<option value="${esc(o.value)}"${o.value === str ? " selected" : ""}>${esc(o.label)}</option>`,
            )
            .join("")}</select>`,
        );
      }
      return group(
        options
          .map(
            (o, i) =>
              `<label class="opt" for="${id}-${i}"><input type="radio" id="${id}-${i}" name="${key}" value="${esc(o.value)}"${o.value === str ? " checked" : ""}${aria}>${esc(o.label)}</label>`,
          )
          .join(""),
      );
    }
    case "multiselect": {
      const chosen = new Set(Array.isArray(value) ? value : []);
      return group(
        (field.options ?? [])
          .map(
            (o, i) =>
              `<label class="opt" for="${id}-${i}"><input type="checkbox" id="${id}-${i}" name="${key}" value="${esc(o.value)}"${chosen.has(o.value) ? " checked" : ""}${aria}>${esc(o.label)}</label>`,
          )
          .join(""),
      );
    }
    case "checkbox":
      return group(
        `<label class="opt" for="${id}"><input type="checkbox" id="${id}" name="${key}" value="yes"${value === true ? " checked" : ""}${aria}>${esc(field.consent_text ?? "Yes")}</label>`,
      );
    case "photo":
    case "file": {
      const accept = (v?.accept ?? DEFAULT_ACCEPT[field.field_type]).join(",");
      const capture = field.field_type === "photo" ? ' capture="environment"' : "";
      return single(`<input id="${id}" name="${key}" type="file" accept="${esc(accept)}"${capture}${aria}>`);
    }
    case "signature": {
      const accept = (v?.accept ?? DEFAULT_ACCEPT.signature).join(",");
      return `<legend>${label}</legend>${notes.join("")}<div class="sig-pad"><p class="hint">Draw your signature with your finger or mouse, then press “Save signature”.</p><canvas class="sig" data-for="${key}" aria-label="Signature pad"></canvas><div class="sig-tools"><button type="button" class="secondary" data-sig="clear">Clear</button><button type="button" class="secondary" data-sig="save">Save signature</button></div></div><div class="sig-file"><label for="${id}">Or upload a picture of your signature</label><input id="${id}" name="${key}" type="file" accept="${esc(accept)}"${aria}></div>${errorHtml}${status}`;
    }
    default:
      return "";
  }
}

/** One field's block: display-only fields as text, choices (and the signature) as a fieldset. */
export function renderField(field: Field, answers: Answers, state: PageState): string {
  if (field.field_type === "heading") return `<h2>${esc(field.label)}</h2>`;
  if (field.field_type === "info")
    return `<div class="note"><p><strong>${esc(field.label)}</strong></p>${field.description ? `<p>${esc(field.description)}</p>` : ""}</div>`;
  if (!isInput(field)) return "";
  const grouped =
    ["select", "multiselect", "checkbox", "signature"].includes(field.field_type) &&
    !(field.field_type === "select" && (field.options?.length ?? 0) > 6);
  const tag = grouped ? "fieldset" : "div";
  const shown = state.visible.has(field.key);
  const flags = `${field.sensitive ? ' data-sensitive="1"' : ""}${shown ? "" : " hidden disabled"}`;
  // `disabled` only means something on a fieldset; a hidden div's inputs are left out by the server.
  return `<${tag} class="field" data-key="${field.key}" data-type="${field.field_type}"${tag === "fieldset" ? flags : flags.replace(" disabled", "")}>${renderInput(field, answers, state)}</${tag}>`;
}

function errorSummary(errors: Record<string, string>, fields: Field[]): string {
  const listed = fields.filter((f) => errors[f.key]);
  if (listed.length === 0) return "";
  return `<div class="summary" role="alert" tabindex="-1"><h2>Please check ${listed.length === 1 ? "this answer" : `these ${listed.length} answers`}</h2><ul>${listed
    .map((f) => `<li><a href="#f-${f.key}">${esc(f.label)}: ${esc(errors[f.key])}</a></li>`)
    .join("")}</ul></div>`;
}

/** A wizard section of the form, with progress, errors and the navigation buttons. */
export function renderSurfacePage(spec: SurfaceSpec, answers: Answers, state: PageState): string {
  const section = state.sections[state.position]!;
  const total = state.sections.length;
  const last = state.position === total - 1;
  const needsMultipart = section.fields.some((f) => isUpload(f));
  const { answered, required } = state.progress;
  const heading =
    total > 1 || spec.sections.length > 0
      ? `<h2>${total > 1 ? `<span class="muted">Step ${state.position + 1} of ${total}: </span>` : ""}${esc(section.title)}</h2>${section.description ? `<p>${esc(section.description)}</p>` : ""}`
      : "";
  const body = `<h1>${esc(spec.title)}</h1>${state.position === 0 && spec.description ? `<p>${esc(spec.description)}</p>` : ""}
<div class="progress"><progress max="${Math.max(required, 1)}" value="${answered}" aria-labelledby="progress-text"></progress><p class="muted" id="progress-text">${answered} of ${required} required questions answered</p></div>
${state.errors ? errorSummary(state.errors, section.fields) : ""}${state.notice ? `<p class="note" role="status">${esc(state.notice)}</p>` : ""}
<form class="sf" method="post" action="/s/${esc(state.token)}" novalidate${needsMultipart ? ' enctype="multipart/form-data"' : ""}>
<input type="hidden" name="_section" value="${section.index}"><input type="hidden" name="_shown" value="${section.fields
    .filter((f) => state.visible.has(f.key))
    .map((f) => f.key)
    .join(",")}">
${heading}${section.fields.map((f) => renderField(f, answers, state)).join("\n")}
<div class="nav">${state.position > 0 ? '<button class="secondary" name="_action" value="back">Back</button>' : ""}<button class="primary" name="_action" value="${last ? "submit" : "next"}">${last ? "Submit" : "Next"}</button></div>
</form>`;
  return document(spec, spec.title, body, state.nonce, true);
}

/** The completion screen, from the spec. */
export function renderCompletion(spec: SurfaceSpec, nonce: string): string {
  const body = `<div class="done"><svg viewBox="0 0 24 24" aria-hidden="true"><circle cx="12" cy="12" r="11" fill="var(--pb)"/><path d="M7 12.5l3 3 7-7" stroke="var(--op)" stroke-width="2.2" fill="none"/></svg><h1>${esc(spec.completion.title)}</h1><p>${esc(spec.completion.message)}</p></div>`;
  return document(spec, spec.completion.title, body, nonce, false);
}

/** Why a link does not open, in words for a patient (never which check failed in detail, never data). */
export type RefusalKind = "invalid" | "expired" | "not_found" | "too_large" | "unavailable";

const REFUSALS: Record<RefusalKind, { title: string; message: string }> = {
  invalid: {
    title: "This link does not work",
    message:
      "The link may have been copied incompletely or replaced by a newer one. Please use the latest message from your clinic, or call them for a new link.",
  },
  expired: {
    title: "This link has expired",
    message:
      "For your privacy, form links only work for a limited time. Please contact your clinic for a new link.",
  },
  not_found: {
    title: "We could not find this form",
    message: "The form may have been withdrawn. Please contact your clinic if you still need to send it.",
  },
  too_large: {
    title: "That file is too large",
    message: "Please go back and choose a smaller file, or take a new photo.",
  },
  unavailable: {
    title: "Something went wrong",
    message: "Please try again in a moment. Your saved answers are kept.",
  },
};

/** The friendly page for a refused link (its status is chosen by the route). */
export function renderRefusal(kind: RefusalKind, nonce: string): string {
  const { title, message } = REFUSALS[kind];
  return document(null, title, `<h1>${esc(title)}</h1><p>${esc(message)}</p>`, nonce, false);
}
