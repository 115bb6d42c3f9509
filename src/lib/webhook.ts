// The one way tmuxtrail posts an alert: a JSON body to a webhook URL, bounded by a deadline, its
// answer read and dropped. It never throws (an alert must not stop what raised it); a failure or a
// non-2xx answer is said through `say`.

export async function postWebhook(
  url: string,
  body: unknown,
  say: (message: string) => void,
  timeoutMs = 10_000,
): Promise<void> {
  try {
    const res = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    await res.body?.cancel();
    if (!res.ok) say(`alert webhook ${url}: HTTP ${res.status}`);
  } catch (e) {
    say(`alert webhook ${url}: ${(e as Error).message}`);
  }
}
