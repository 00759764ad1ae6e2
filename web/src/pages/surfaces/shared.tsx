/** Types and labels the Surfaces page's parts share (types inferred from shared/schemas; type-only). */
import type { z } from "zod";
import type {
  PatientSurfaceHistorySchema,
  SurfaceAnalyticsSchema,
} from "../../../../shared/schemas/surface-settings";
import type { SurfaceDetailSchema, SurfaceSummarySchema } from "../../../../shared/schemas/surfaces";

export type SurfaceSummary = z.infer<typeof SurfaceSummarySchema>;
export type SurfaceDetail = z.infer<typeof SurfaceDetailSchema>;
export type SurfaceAnalytics = z.infer<typeof SurfaceAnalyticsSchema>;
export type PatientSurfaceHistory = z.infer<typeof PatientSurfaceHistorySchema>;

export const STATUSES = ["created", "delivered", "opened", "partial", "completed", "expired", "archived"];
export const CHANNELS = ["sms", "whatsapp", "email", "voice", "web"];

const CHANNEL_LABELS: Record<string, string> = {
  sms: "SMS",
  whatsapp: "WhatsApp",
  email: "Email",
  voice: "Voice",
  web: "Web link",
};
export const channelLabel = (channel: string) => CHANNEL_LABELS[channel] ?? channel;
export const statusLabel = (status: string) => status.charAt(0).toUpperCase() + status.slice(1);

/** Existing badge colours: finished is "approved" green, stopped is "expired" grey, open is "pending". */
const STATUS_BADGE: Record<string, string> = {
  completed: "status-approved",
  expired: "status-expired",
  archived: "status-expired",
};

export function SurfaceStatus({ status }: { status: string }) {
  return <span class={`badge ${STATUS_BADGE[status] ?? "status-pending"}`}>{statusLabel(status)}</span>;
}

/** 90 → "1 min 30 s", 7200 → "2 h", 93600 → "1 d 2 h". */
export function formatSpan(seconds: number | null): string {
  if (seconds === null) return "—";
  if (seconds < 60) return `${seconds} s`;
  if (seconds < 3600) {
    const s = seconds % 60;
    return `${Math.floor(seconds / 60)} min${s ? ` ${s} s` : ""}`;
  }
  if (seconds < 86_400) {
    const m = Math.floor((seconds % 3600) / 60);
    return `${Math.floor(seconds / 3600)} h${m ? ` ${m} min` : ""}`;
  }
  const h = Math.floor((seconds % 86_400) / 3600);
  return `${Math.floor(seconds / 86_400)} d${h ? ` ${h} h` : ""}`;
}

export const percent = (rate: number | null) => (rate === null ? "—" : `${Math.round(rate * 100)}%`);
