/** Placeholder: filled in by the EHR integration work (issue 4). */
import { router } from "./router";

export const dataSourcesApi = router();
