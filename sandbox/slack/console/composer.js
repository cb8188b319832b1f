// The message composer: Enter sends, Shift+Enter is a new line, ↑/↓ recall earlier commands,
// and typing "/" shows the /fp sub-commands (as Slack's own command picker does), Tab completing
// the first one. Sending itself is the caller's business (``onSend``).

import { escapeHtml } from "./mrkdwn.js";

/** The /fp grammar (interface §4), as shown in the picker: what to insert, and its usage. */
const COMMANDS = [
  ["help", "the commands you may use"],
  ["whoami", "your roles and permissions"],
  ["envs", "list environments"],
  ["envs create ", "<name> [--description <text>]"],
  ["envs rename ", "<env_id> <new name>"],
  ["envs delete ", "<env_id>"],
  ["envs limit ", "<env_id> <none|notify|restrict> [<requests per month>]"],
  ["keys", "[--env <env_id>] [--type public|secret|proxy] [--status enabled|disabled]"],
  ["keys create ", "<public|secret|proxy> <name> [--env <env_id>]"],
  ["keys rename ", "<key_id> <new name>"],
  ["keys enable ", "<key_id>"],
  ["keys disable ", "<key_id>"],
  ["keys rotate ", "<key_id> [--grace <duration>]"],
  ["keys rate-limit ", "<key_id> <requests per second>"],
  ["keys describe ", "<key_id> <description>"],
  ["keys delete ", "<key_id>"],
  ["webhooks", "list webhooks"],
  ["webhooks create ", "<url> …"],
  ["webhooks update ", "<webhook_id> [--url …] [--description …] [--env …]"],
  ["webhooks verify ", "<webhook_id>"],
  ["webhooks delete ", "<webhook_id>"],
  ["rules", "[--env <env_id>] filtering rules"],
  ["rules add ", "<env_id> allow|deny <origin>  or  <env_id> <expression> …"],
  ["rules change ", "<rule_id> [<expression>] [--action …] [--status …]"],
  ["rules move ", "<rule_id> <position>"],
  ["rules remove ", "<rule_id>  or  <env_id> allow|deny <origin>"],
  ["enckeys", "list encryption keys (2025-11-20)"],
  ["enckeys rotate ", "<key_id> [--grace <duration>]"],
  ["enckeys revert ", "<key_id>"],
  ["enckeys enable ", "<key_id>"],
  ["enckeys disable ", "<key_id>"],
  ["subdomains", "list custom subdomains (2025-11-20)"],
  ["subdomains create ", "<hostname>"],
  ["subdomains verify ", "<subdomain_id>"],
  ["subdomains delete ", "<subdomain_id>"],
  ["requests", "pending change requests"],
  ["audit", "[N] the last N audit events"],
];

const MAX_SUGGESTIONS = 7;

/** Sub-commands matching what has been typed so far ("/", "/f", "/fp", "/fp en"…). */
function matches(value) {
  if (!value.startsWith("/") || value.includes("\n")) return [];
  if (!"/fp ".startsWith(value.slice(0, 4)) && !value.startsWith("/fp ")) return [];
  const typed = value.startsWith("/fp ") ? value.slice(4).trimStart() : "";
  // Once arguments are being typed, the picker only gets in the way.
  if (COMMANDS.some(([cmd]) => cmd.endsWith(" ") && typed.startsWith(cmd))) return [];
  return COMMANDS.filter(([cmd]) => cmd.startsWith(typed) && cmd.trim() !== typed).slice(
    0,
    MAX_SUGGESTIONS,
  );
}

/**
 * Wire the composer. ``input`` is the textarea, ``list`` the suggestions box, ``sendButton`` the
 * paper plane; ``onSend(text)`` is called with what was typed.
 */
export function mountComposer({ input, list, sendButton, onSend }) {
  const history = [];
  let recalled = -1;
  let shown = [];

  const fit = () => {
    input.style.height = "auto";
    input.style.height = `${Math.min(input.scrollHeight, 160)}px`;
  };

  const drawSuggestions = () => {
    shown = matches(input.value);
    list.classList.toggle("hidden", shown.length === 0);
    list.innerHTML = shown
      .map(
        ([cmd, usage], index) =>
          `<div class="suggestion${index === 0 ? " first" : ""}" role="option"` +
          ` data-insert="${escapeHtml(cmd)}">` +
          `<span class="suggestion-cmd">/fp ${escapeHtml(cmd.trim())}</span>` +
          `<span class="suggestion-usage">${escapeHtml(usage)}</span></div>`,
      )
      .join("");
  };

  const insert = (cmd) => {
    input.value = `/fp ${cmd}`;
    input.focus();
    fit();
    drawSuggestions();
  };

  const send = () => {
    const text = input.value.trim();
    if (!text) return;
    history.push(text);
    recalled = -1;
    input.value = "";
    fit();
    drawSuggestions();
    onSend(text);
  };

  const recall = (step) => {
    if (!history.length) return false;
    recalled = recalled < 0 ? history.length : recalled;
    recalled = Math.max(0, Math.min(history.length, recalled + step));
    input.value = history[recalled] ?? "";
    fit();
    drawSuggestions();
    return true;
  };

  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      send();
    } else if (event.key === "Tab" && shown.length) {
      event.preventDefault();
      insert(shown[0][0]);
    } else if (event.key === "Escape") {
      list.classList.add("hidden");
    } else if (event.key === "ArrowUp" && (input.value === "" || recalled >= 0)) {
      if (recall(-1)) event.preventDefault();
    } else if (event.key === "ArrowDown" && recalled >= 0) {
      if (recall(1)) event.preventDefault();
    }
  });
  input.addEventListener("input", () => {
    recalled = -1;
    fit();
    drawSuggestions();
  });
  list.addEventListener("mousedown", (event) => {
    const option = event.target.closest("[data-insert]");
    if (!option) return;
    event.preventDefault(); // keep the focus in the textarea
    insert(option.dataset.insert);
  });
  sendButton.addEventListener("click", send);
  input.addEventListener("blur", () => list.classList.add("hidden"));
  input.addEventListener("focus", drawSuggestions);
}
