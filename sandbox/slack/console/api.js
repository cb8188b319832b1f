// The console's only link to the sandbox: the fake Slack's /_console/* routes.

/**
 * Call a console route; always resolves to an object. A failure carries ``ok: false`` and an
 * ``error`` string, whether the server said so or the request never got an answer.
 */
async function call(method, path, body) {
  try {
    const response = await fetch(path, {
      method,
      headers: body === undefined ? {} : { "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) return { ok: false, error: data.error ?? `HTTP ${response.status}`, ...data };
    return data;
  } catch (error) {
    return { ok: false, error: `the sandbox did not answer (${error.message})` };
  }
}

export const api = {
  /** The whole workspace: channels, users, every message, violations, personas' roles. */
  state: () => call("GET", "/_console/state"),
  /** Type ``/fp <text>`` as ``user`` in ``channel``; resolves once the bot acknowledged. */
  command: (user, channel, text) => call("POST", "/_console/command", { user, channel, text }),
  /** Click a button as ``user``; resolves once the bot acknowledged. */
  click: (user, channel, ts, actionId) =>
    call("POST", "/_console/click", { user, channel, ts, action_id: actionId }),
  /** The stand-in Management API's fault knobs. */
  faults: () => call("GET", "/_console/faults"),
  setFaults: (knobs) => call("POST", "/_console/faults", knobs),
  resetFaults: () => call("POST", "/_console/faults/reset"),
};

/**
 * Follow the live feed. EventSource reconnects by itself after a drop; ``onOpen`` runs on every
 * (re)connection so the caller can reload the state and fill whatever it missed meanwhile.
 */
export function subscribe({ onEvent, onOpen, onDrop }) {
  const source = new EventSource("/_console/events");
  source.addEventListener("open", onOpen);
  source.addEventListener("error", onDrop);
  source.addEventListener("message", (event) => onEvent(JSON.parse(event.data)));
  return source;
}
