import { useLocation } from "../router";
import { EntityPage } from "./world/entity";
import { WorldSearchPage } from "./world/search";

/** The world model: `/world` searches it, `/world/{entity id}` opens one patient (or other entity). */
export function WorldPage() {
  const { path } = useLocation();
  const id = path.replace(/\/+$/, "").split("/")[2];
  return id ? <EntityPage key={id} id={decodeURIComponent(id)} /> : <WorldSearchPage />;
}
