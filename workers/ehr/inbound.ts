/** Placeholder: filled in by the EHR integration work (issue 4). */
export {};
