/** The dashboard's pages, in navigation order. Later issues fill the placeholders in place. */
import type { FunctionComponent } from "preact";
import {
  AnalyticsIcon,
  CallsIcon,
  OperatorsIcon,
  SettingsIcon,
  SurfacesIcon,
  WorldIcon,
} from "./components/icons";
import { AnalyticsPage } from "./pages/analytics";
import { CallsPage } from "./pages/calls";
import { OperatorsPage } from "./pages/operators";
import { SettingsPage } from "./pages/settings";
import { SurfacesPage } from "./pages/surfaces";
import { WorldPage } from "./pages/world";

export interface Route {
  path: string;
  label: string;
  icon: FunctionComponent;
  page: FunctionComponent;
}

export const ROUTES: Route[] = [
  { path: "/calls", label: "Calls", icon: CallsIcon, page: CallsPage },
  { path: "/operators", label: "Operators", icon: OperatorsIcon, page: OperatorsPage },
  { path: "/surfaces", label: "Surfaces", icon: SurfacesIcon, page: SurfacesPage },
  { path: "/world", label: "World", icon: WorldIcon, page: WorldPage },
  { path: "/analytics", label: "Analytics", icon: AnalyticsIcon, page: AnalyticsPage },
  { path: "/settings", label: "Settings", icon: SettingsIcon, page: SettingsPage },
];

export const HOME_PATH = "/calls";

export function findRoute(path: string): Route | undefined {
  const normalized = path.length > 1 ? path.replace(/\/+$/, "") : path;
  return ROUTES.find((route) => route.path === normalized);
}
