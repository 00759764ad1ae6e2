/** A fake HTTP endpoint for adapters that take a `fetch`: records each request and answers in turn. */

export interface CapturedRequest {
  url: string;
  method: string;
  headers: Headers;
  /** The body as text. */
  text: string;
  /** The body read as a form (Twilio's REST API takes form-encoded bodies). */
  form: URLSearchParams;
}

/** Answers with the next of `answers` (the last one repeats). */
export function fakeFetch(...answers: (() => Response)[]) {
  const requests: CapturedRequest[] = [];
  const fetcher = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = new Request(input, init);
    const text = new TextDecoder().decode(await request.arrayBuffer());
    requests.push({
      url: request.url,
      method: request.method,
      headers: request.headers,
      text,
      form: new URLSearchParams(text),
    });
    return answers[Math.min(requests.length, answers.length) - 1]!();
  }) as typeof fetch;
  return { fetcher, requests };
}

/** A JSON answer with `status`. */
export const json = (status: number, body: unknown) => () =>
  new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
