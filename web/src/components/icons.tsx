/** Line icons for the navigation, drawn on a 16×16 grid; decorative, so hidden from assistive tech. */
import type { ComponentChildren } from "preact";

function Icon({ children }: { children: ComponentChildren }) {
  return (
    <svg
      class="icon"
      viewBox="0 0 16 16"
      width="16"
      height="16"
      fill="none"
      stroke="currentColor"
      stroke-width="1.5"
      stroke-linecap="round"
      stroke-linejoin="round"
      aria-hidden="true"
      focusable="false"
    >
      {children}
    </svg>
  );
}

export const CallsIcon = () => (
  <Icon>
    <path d="M1.5 8h2.5l2-5 3.5 10 2-5h3" />
  </Icon>
);

export const OperatorsIcon = () => (
  <Icon>
    <circle cx="8" cy="5" r="2.75" />
    <path d="M2.5 14.5c0-3 2.4-4.75 5.5-4.75s5.5 1.75 5.5 4.75" />
  </Icon>
);

export const SurfacesIcon = () => (
  <Icon>
    <rect x="3" y="1.75" width="10" height="12.5" rx="1.5" />
    <path d="M5.75 5.5h4.5M5.75 8.25h4.5M5.75 11h2.5" />
  </Icon>
);

export const WorldIcon = () => (
  <Icon>
    <circle cx="8" cy="8" r="6.25" />
    <path d="M1.75 8h12.5M8 1.75c1.75 1.75 2.5 3.9 2.5 6.25S9.75 12.5 8 14.25C6.25 12.5 5.5 10.35 5.5 8S6.25 3.5 8 1.75z" />
  </Icon>
);

export const ReviewIcon = () => (
  <Icon>
    <rect x="2.25" y="1.75" width="11.5" height="12.5" rx="1.5" />
    <path d="M5 6l1.5 1.5L9.25 4.75M5 10.75h6" />
  </Icon>
);

export const AnalyticsIcon = () => (
  <Icon>
    <path d="M2.5 13.5h11M4.5 11V8M8 11V3.5M11.5 11V6" />
  </Icon>
);

export const SettingsIcon = () => (
  <Icon>
    <path d="M2 4.5h4M9 4.5h5M2 11.5h7M12 11.5h2" />
    <circle cx="7.5" cy="4.5" r="1.5" />
    <circle cx="10.5" cy="11.5" r="1.5" />
  </Icon>
);

export const PipelineIcon = () => (
  <Icon>
    <circle cx="3.25" cy="8" r="1.75" />
    <circle cx="12.75" cy="8" r="1.75" />
    <path d="M5 8h2.25l1.5-3.5 1.5 7 .75-3.5" />
  </Icon>
);

export const SimulatorIcon = () => (
  <Icon>
    <rect x="4.25" y="1.5" width="7.5" height="13" rx="1.5" />
    <path d="M7 12.25h2" />
  </Icon>
);
