// The few plain JSON requests the page makes besides its transports.

/** GET /api/poll without since: the latest message(s) of a topic and its head. Throws on failure. */
export async function fetchSnapshot(topic) {
  const response = await fetch(`/api/poll?topic=${encodeURIComponent(topic)}`, { cache: "no-store" });
  if (!response.ok) throw new Error(`/api/poll answered HTTP ${response.status}`);
  return response.json();
}

/** What the server said when it refused: its reason, and when to try again if it said. */
export function refusalText(answer, status) {
  const reason = answer.error ?? `HTTP ${status}`;
  return answer.retry_after ? `${reason}; try again in ${answer.retry_after} s` : reason;
}

/**
 * POST a JSON body (with `token` as "Authorization: Bearer" when given); throws an Error
 * carrying the server's {"error"} reason and the HTTP status on failure.
 */
export async function postJson(path, body, token = null) {
  const headers = { "Content-Type": "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(path, {
    method: "POST",
    headers,
    body: JSON.stringify(body),
    cache: "no-store",
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(refusalText(answer, response.status));
    error.status = response.status;
    throw error;
  }
  return answer;
}
