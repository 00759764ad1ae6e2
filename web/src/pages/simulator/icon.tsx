/** The simulator's navigation icon: a handset, drawn like the shared icons (16×16, decorative). */
export const SimulatorIcon = () => (
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
    <rect x="4.25" y="1.5" width="7.5" height="13" rx="1.5" />
    <path d="M7 12.25h2" />
  </svg>
);
