import { randomBytes, toBase64Url } from "./encoding";

/** Prefixes say what an id names, so a log line or a support ticket is readable at a glance. */
export type IdPrefix =
  | "ws"
  | "usr"
  | "ses"
  | "key"
  | "svc"
  | "pn"
  | "aud"
  | "req"
  | "ent"
  | "evt"
  | "edg"
  | "rev"
  | "ds"
  | "sev"
  | "syn"
  | "cg"
  | "kn"
  | "call"
  | "cev"
  | "dlv"
  | "srf"
  | "stp"
  | "gd"
  | "gap"
  | "run"
  | "asg";

/** A prefixed random id: 16 random bytes, url-safe (`svc_3q2...`). */
export function newId(prefix: IdPrefix): string {
  return `${prefix}_${toBase64Url(randomBytes(16))}`;
}
