// "Change in dashboard": make a change to the stand-in account as if someone had used
// Fingerprint's dashboard, outside fpbot, and watch fpbot's account watch report it in #alerts.
//
// Each button posts an example change (POST /_console/outside-change, proxied to the stand-in's
// /_sandbox/outside-change); the stand-in picks the resource and says what it did.

import { api } from "./api.js";
import { escapeHtml } from "./mrkdwn.js";

/** The example changes on offer. */
export const DASHBOARD_CHANGES = [
  {
    id: "rename-environment",
    label: "Rename an environment",
    help: "Rename the first environment in the dashboard (or give it its name back).",
  },
  {
    id: "toggle-key",
    label: "Toggle an API key",
    help: "Enable or disable the first API key in the dashboard.",
  },
  {
    id: "toggle-webhook",
    label: "Toggle a webhook",
    help: "Enable or disable the first webhook in the dashboard.",
  },
];

/** Draw the panel into ``root``; ``tell(text)`` reports what was done, ``notify`` failures. */
export function mountDashboardPanel(root, tell, notify) {
  let busy = false;

  const draw = () => {
    const buttons = DASHBOARD_CHANGES.map(
      (change) =>
        `<button type="button" class="fault dashboard-change" data-change="${change.id}"` +
        ` title="${escapeHtml(change.help)}"${busy ? " disabled" : ""}>` +
        `<span class="fault-label">${escapeHtml(change.label)}</span></button>`,
    ).join("");
    root.innerHTML =
      `<div class="faults-head"><span>Change in dashboard</span>` +
      `<span class="fault-status ok">outside fpbot</span></div>` +
      `<div class="fault-grid">${buttons}</div>`;
  };

  root.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-change]");
    if (!button || busy) return;
    busy = true;
    draw();
    const answer = await api.outsideChange({ example: button.dataset.change });
    busy = false;
    draw();
    if (answer.ok === false) {
      const why = answer.error?.message ?? answer.error;
      notify(`Could not change the account: ${why}`);
      return;
    }
    tell(`${answer.said} fpbot's account watch reports it in #alerts within two intervals.`);
  });

  draw();
}
