// The few plain JSON requests the page makes besides its transports.

/** GET /api/poll without since: the latest message(s) of a topic and its head. Throws on failure. */
export async function fetchSnapshot(topic) {
  const response = await fetch(`/api/poll?topic=${encodeURIComponent(topic)}`, { cache: "no-store" });
  if (!response.ok) throw new Error(`/api/poll answered HTTP ${response.status}`);
  return response.json();
}

/** POST a JSON body; throws an Error carrying the server's {"error"} reason on failure. */
export async function postJson(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
    cache: "no-store",
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(answer.error ?? `HTTP ${response.status}`);
  return answer;
}
