/** Loading the review queue (keyset pages), and telling the rest of the dashboard when it changed. */
import { type PagedList, usePagedList } from "../../hooks";
import type { ReviewQueueItem } from "../../types";

export const QUEUE_PAGE_SIZE = 50;

/** Dispatched on `window` after a claim or a decision, so counts elsewhere (the navigation) refresh. */
export const REVIEW_CHANGED = "switchboard:review-changed";

export function announceReviewChanged(): void {
  window.dispatchEvent(new Event(REVIEW_CHANGED));
}

/** The queue as a paged list: `loaded` once the first answer for the current URL arrived; `reload()`
 * fetches the first page again, keeping what is shown until the answer arrives. */
export type Queue = PagedList<ReviewQueueItem>;

/** `url` is the list endpoint with its filters; pages follow `continuation_token`. */
export function useQueue(url: string): Queue {
  return usePagedList<ReviewQueueItem>(url, QUEUE_PAGE_SIZE);
}
