/** The dashboard's pages, in navigation order. Later issues fill the placeholders in place. */
import type { FunctionComponent } from "preact";
import {
  AnalyticsIcon,
  CallsIcon,
  OperatorsIcon,
  PipelineIcon,
  ReviewIcon,
  SettingsIcon,
  SimulatorIcon,
  SurfacesIcon,
  WorldIcon,
} from "./components/icons";
import { AnalyticsPage } from "./pages/analytics";
import { CallsPage } from "./pages/calls";
import { OperatorsPage } from "./pages/operators";
import { OutboxPage } from "./pages/outbox";
import { PipelinePage } from "./pages/pipeline";
import { ReviewPage } from "./pages/review";
import { ReviewNavCount } from "./pages/review/nav-count";
import { SettingsPage } from "./pages/settings";
import { SimulatorPage } from "./pages/simulator";
import { SurfacesPage } from "./pages/surfaces";
import { WorldPage } from "./pages/world";

export interface Route {
  path: string;
  label: string;
  icon: FunctionComponent;
  page: FunctionComponent;
  /** Something small beside the label in the navigation, such as a count of waiting work. */
  badge?: FunctionComponent;
  /** The page also owns the paths below its own (`/world/{entity id}`). */
  nested?: boolean;
}

export const ROUTES: Route[] = [
  { path: "/calls", label: "Calls", icon: CallsIcon, page: CallsPage },
  { path: "/simulator", label: "Simulator", icon: SimulatorIcon, page: SimulatorPage },
  { path: "/operators", label: "Operators", icon: OperatorsIcon, page: OperatorsPage },
  { path: "/surfaces", label: "Surfaces", icon: SurfacesIcon, page: SurfacesPage },
  { path: "/outbox", label: "Outbox", icon: SurfacesIcon, page: OutboxPage },
  { path: "/world", label: "World", icon: WorldIcon, page: WorldPage, nested: true },
  { path: "/review", label: "Review", icon: ReviewIcon, page: ReviewPage, badge: ReviewNavCount },
  { path: "/pipeline", label: "Pipeline", icon: PipelineIcon, page: PipelinePage },
  { path: "/analytics", label: "Analytics", icon: AnalyticsIcon, page: AnalyticsPage },
  { path: "/settings", label: "Settings", icon: SettingsIcon, page: SettingsPage },
];

export const HOME_PATH = "/calls";

/** The page for a path; a nested page also answers for the paths below its own. */
export function findRoute(path: string): Route | undefined {
  const normalized = path.length > 1 ? path.replace(/\/+$/, "") : path;
  return ROUTES.find(
    (route) => route.path === normalized || (route.nested && normalized.startsWith(`${route.path}/`)),
  );
}
