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
  click: (user, channel, ts, actionId, value) =>
    call("POST", "/_console/click", { user, channel, ts, action_id: actionId, value }),
  /** Choose an option of an overflow or select menu in a message. */
  choose: (user, channel, ts, actionId, value) =>
    call("POST", "/_console/choose", { user, channel, ts, action_id: actionId, value }),
  /** Run one of the app's global shortcuts (the ⚡ menu). */
  shortcut: (user, callbackId) => call("POST", "/_console/shortcut", { user, callback_id: callbackId }),
  /** Open the app's Home tab: Slack tells the app (app_home_opened), which publishes it. */
  home: (user) => call("POST", "/_console/home", { user }),
  /**
   * An external select's typeahead: ``where`` is ``{view_id}`` or ``{channel, ts}``; resolves
   * with the app's ``options`` or ``option_groups``.
   */
  suggest: (user, where, actionId, typed, values) =>
    call("POST", "/_console/suggest", { user, ...where, action_id: actionId, typed, values }),
  /** Click a button in a modal or the Home tab, with what the form holds so far. */
  viewClick: (user, viewId, actionId, values, value) =>
    call("POST", "/_console/view/click", {
      user,
      view_id: viewId,
      action_id: actionId,
      values,
      value,
    }),
  /** Choose an option of a menu in a modal or the Home tab. */
  viewChoose: (user, viewId, actionId, value, values) =>
    call("POST", "/_console/view/choose", {
      user,
      view_id: viewId,
      action_id: actionId,
      value,
      values,
    }),
  /** Submit the modal; a refusal by Slack's client carries ``errors`` ({block_id: text}). */
  submit: (user, viewId, values) =>
    call("POST", "/_console/view/submit", { user, view_id: viewId, values }),
  /** Close the modal's top view (Cancel, ×, or ← back). */
  closeView: (user, viewId) => call("POST", "/_console/view/close", { user, view_id: viewId }),
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
