// Fault buttons: make the stand-in Management API misbehave, to watch how fpbot copes.
//
// Each button toggles one of the stand-in's knobs (POST /_console/faults, proxied to the
// stand-in's /_sandbox/faults). The panel shows the knobs as the stand-in reports them, polled,
// so it stays right when a test or another tab changes them.

import { api } from "./api.js";
import { escapeHtml } from "./mrkdwn.js";

/** The faults on offer: the knobs that switch each on and off, and how to tell it is on. */
export const FAULTS = [
  {
    id: "slow",
    label: "Slow",
    detail: "2 s latency",
    help: "Every API answer takes 2 seconds longer.",
    on: { latency: 2 },
    off: { latency: 0 },
    active: (k) => k.latency > 0,
  },
  {
    id: "failing",
    label: "Failing",
    detail: "50% answer 503",
    help: "Half of the API requests answer 503 Service Unavailable.",
    on: { error_rate: 0.5, error_status: 503 },
    off: { error_rate: 0 },
    active: (k) => k.error_rate > 0,
  },
  {
    id: "rate-limited",
    label: "Rate-limited",
    detail: "429 + Retry-After",
    help: "Every API request answers 429 Too Many Requests (Retry-After: 1 s) until turned off.",
    on: { force_429: 1_000_000 },
    off: { force_429: 0 },
    active: (k) => k.force_429 > 0,
  },
  {
    id: "hanging",
    label: "Hanging",
    detail: "never answers",
    help: "API requests get no answer at all until turned off.",
    on: { hang: true },
    off: { hang: false },
    active: (k) => k.hang === true,
  },
  {
    id: "revoked",
    label: "Key revoked",
    detail: "every call 401",
    help: "The management API key is revoked: every request answers 401.",
    on: { revoked: true },
    off: { revoked: false },
    active: (k) => k.revoked === true,
  },
];

const POLL_MS = 2000;

/** Draw the panel into ``root`` and keep it current; ``notify(text)`` reports failures. */
export function mountFaultPanel(root, notify) {
  let knobs = null;
  let problem = null;
  let busy = false;

  const draw = () => {
    const active = knobs ? FAULTS.filter((f) => f.active(knobs)) : [];
    const status = problem
      ? `<span class="fault-status bad">${escapeHtml(problem)}</span>`
      : active.length
        ? `<span class="fault-status warn">${active.map((f) => f.label).join(", ")}</span>`
        : '<span class="fault-status ok">healthy</span>';
    const buttons = FAULTS.map((fault) => {
      const on = knobs && fault.active(knobs);
      return (
        `<button type="button" class="fault${on ? " on" : ""}" data-fault="${fault.id}"` +
        ` aria-pressed="${on ? "true" : "false"}" title="${escapeHtml(fault.help)}"` +
        `${busy || !knobs ? " disabled" : ""}>` +
        `<span class="fault-label">${fault.label}</span>` +
        `<span class="fault-detail">${fault.detail}</span></button>`
      );
    }).join("");
    root.innerHTML =
      `<div class="faults-head"><span>Stand-in API</span>${status}</div>` +
      `<div class="fault-grid">${buttons}` +
      `<button type="button" class="fault reset" data-fault="reset"` +
      `${busy || !knobs ? " disabled" : ""}` +
      ` title="Every knob back to normal"><span class="fault-label">Reset</span>` +
      `<span class="fault-detail">all normal</span></button></div>`;
  };

  /** Apply an answer from the proxy: the knobs, or why there are none. */
  const accept = (answer) => {
    if (answer.ok === false) {
      problem = answer.error;
      return false;
    }
    knobs = answer;
    problem = null;
    return true;
  };

  const refresh = async () => {
    if (busy) return;
    accept(await api.faults());
    draw();
  };

  root.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-fault]");
    if (!button || busy) return;
    const id = button.dataset.fault;
    const fault = FAULTS.find((f) => f.id === id);
    busy = true;
    draw();
    const answer =
      id === "reset"
        ? await api.resetFaults()
        : await api.setFaults(fault.active(knobs) ? fault.off : fault.on);
    busy = false;
    if (!accept(answer)) notify(`Could not change the stand-in API: ${answer.error}`);
    draw();
  });

  draw();
  refresh();
  setInterval(refresh, POLL_MS);
}
