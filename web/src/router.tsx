/**
 * Client-side routing on the History API. The Worker answers every non-API path with index.html, so
 * `/calls` or `/settings` can be bookmarked and reloaded.
 */
import type { ComponentChildren, TargetedMouseEvent } from "preact";
import { useEffect, useState } from "preact/hooks";

const listeners = new Set<() => void>();

function notify(): void {
  for (const listener of listeners) listener();
}

window.addEventListener("popstate", notify);

export function navigate(to: string, options: { replace?: boolean } = {}): void {
  const current = location.pathname + location.search;
  if (to === current) return;
  if (options.replace) history.replaceState(null, "", to);
  else history.pushState(null, "", to);
  notify();
}

export interface Location {
  path: string;
  query: URLSearchParams;
}

function readLocation(): Location {
  return { path: location.pathname, query: new URLSearchParams(location.search) };
}

/** The current path and query; re-renders on navigation and on the browser's back/forward. */
export function useLocation(): Location {
  const [current, setCurrent] = useState(readLocation);
  useEffect(() => {
    const update = () => setCurrent(readLocation());
    listeners.add(update);
    update();
    return () => {
      listeners.delete(update);
    };
  }, []);
  return current;
}

interface LinkProps {
  href: string;
  class?: string;
  children: ComponentChildren;
  "aria-current"?: "page" | undefined;
  "aria-label"?: string;
  onClick?: (event: TargetedMouseEvent<HTMLAnchorElement>) => void;
}

/** An ordinary link that navigates in place; modified clicks (new tab, new window) keep their meaning. */
export function Link({ href, onClick, ...rest }: LinkProps) {
  const handleClick = (event: TargetedMouseEvent<HTMLAnchorElement>) => {
    onClick?.(event);
    if (
      event.defaultPrevented ||
      event.button !== 0 ||
      event.metaKey ||
      event.ctrlKey ||
      event.shiftKey ||
      event.altKey
    ) {
      return;
    }
    event.preventDefault();
    navigate(href);
  };
  return <a {...rest} href={href} onClick={handleClick} />;
}
