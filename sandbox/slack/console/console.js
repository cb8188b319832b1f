// The sandbox's Slack console: channels, DMs, threads and a composer, drawn from what the fake
// Slack recorded, so the bot's messages can be judged as a person in Slack would see them.
//
// Data flow: GET /_console/state fills `store`; the SSE feed (/_console/events) keeps it current;
// every change schedules one redraw (view.js) of the visible panes from `store` and `ui`. This
// module holds what a person does: type, click, switch persona or channel, open a thread;
// forms.js what they do in modals, menus, the App Home and shortcuts.

import { api, subscribe } from "./api.js";
import { findButton, textObject } from "./blocks.js";
import { mountComposer } from "./composer.js";
import { mountFaultPanel } from "./faults.js";
import { FORM_CLICKS, closeShortcutMenu, mountForms } from "./forms.js";
import { html } from "./html.js";
import { dmOf, isDm, keyOf, listed, renderContext, store, ui, visible } from "./state.js";
import { render } from "./view.js";

const $ = (id) => document.getElementById(id);
const SAVED = "fpbot-console"; // localStorage: persona and channel survive a reload

// -- notices ----------------------------------------------------------------------------------

function toast(text, kind = "info") {
  const note = document.createElement("div");
  note.className = `toast ${kind}`;
  note.textContent = text;
  $("toasts").append(note);
  setTimeout(() => note.remove(), 6000);
}

/** The line under the composer: how the last command went. */
function status(content, kind = "") {
  const line = $("composer-status");
  line.className = `composer-status ${kind}`;
  line.innerHTML = content;
}

let noteCounter = 0;

/**
 * A note from Slackbot that only this reader sees, as Slack shows when a command fails before
 * the app answers. Its ts sorts right after everything recorded so far.
 */
function slackbotNote(channel, text) {
  const newest = [...store.messages.values()].reduce((max, m) => (m.ts > max ? m.ts : max), "0");
  noteCounter += 1;
  ui.local.push({
    channel,
    ts: `${newest}~${String(noteCounter).padStart(4, "0")}`,
    text,
    blocks: [],
    ephemeral_for: ui.persona,
    author: "slackbot",
    local: true,
    posted_at: Date.now() / 1000,
  });
  ui.stickToBottom = true;
  render();
}

// -- where the reader is ----------------------------------------------------------------------

function save() {
  localStorage.setItem(SAVED, JSON.stringify({ persona: ui.persona, channel: ui.channel }));
}

function openChannel(channel) {
  if (channel !== ui.channel) ui.tab = "messages";
  ui.channel = channel;
  ui.unread.delete(channel);
  ui.stickToBottom = true;
  save();
  render();
  $("composer-input").focus();
}

function closePersonaMenu() {
  $("persona-menu").classList.add("hidden");
  $("persona-button").setAttribute("aria-expanded", "false");
}

function togglePersonaMenu() {
  const menu = $("persona-menu");
  menu.classList.toggle("hidden");
  $("persona-button").setAttribute("aria-expanded", String(!menu.classList.contains("hidden")));
}

function switchPersona(user) {
  // A DM belongs to its persona: looking at "your DM" follows you to the new persona's.
  const wasDm = isDm(ui.channel);
  ui.persona = user;
  ui.unread.clear();
  ui.openMenu = null;
  if (wasDm) ui.channel = dmOf(user);
  const parent = ui.thread && store.messages.get(ui.thread);
  if (parent && !visible(parent)) ui.thread = null;
  closePersonaMenu();
  status(""); // the last command's outcome was someone else's
  openChannel(ui.channel);
}

// -- typing and clicking ----------------------------------------------------------------------

/** What Slack says when a slash command or a click fails before the app answers. */
const SLACK_ERRORS = {
  operation_timeout: "the app did not answer within 3 seconds",
  dispatch_failed: "the app answered with an HTTP error",
};

/** Typed text that is not a /fp command: Slackbot explains, as it would in Slack. */
function refuseLocally(channel, text) {
  if (!text.startsWith("/")) {
    slackbotNote(
      channel,
      "This console sends slash commands only — messages are not simulated. Try `/fp help`.",
    );
    return true;
  }
  const [command] = text.split(/\s/, 1);
  if (command === "/fp") return false;
  slackbotNote(
    channel,
    `\`${command}\` is not a valid command. In Slack, all messages that start with the "/"` +
      " character are interpreted as commands.",
  );
  return true;
}

async function sendCommand(text) {
  const channel = ui.channel;
  if (refuseLocally(channel, text)) return;
  const who = `@${store.users[ui.persona]?.name ?? ui.persona}`;
  ui.stickToBottom = true;
  status(html`<span class="spinner"></span>Sending <code>${text}</code> as ${who}…`);
  const answer = await api.command(ui.persona, channel, text.slice("/fp".length).trim());
  if (answer.ok) {
    const took = `acknowledged in ${answer.elapsed_ms} ms`;
    status(html`✓ <code>${text}</code> sent as ${who} · ${took}`, "ok");
  } else if (SLACK_ERRORS[answer.error]) {
    status(html`✗ <code>${text}</code>: ${SLACK_ERRORS[answer.error]}`, "bad");
    slackbotNote(channel, `\`/fp\` failed with the error "${answer.error}"`);
  } else {
    status(html`✗ ${answer.error}`, "bad");
  }
}

/** Show a button's Block Kit confirmation dialog; resolves to true when confirmed. */
function confirmDialog(confirm) {
  const dialog = $("confirm-dialog");
  const ctx = renderContext();
  const label = (object, fallback) => textObject(object ?? { type: "plain_text", text: fallback });
  $("confirm-title").innerHTML = textObject(confirm.title, ctx);
  $("confirm-text").innerHTML = textObject(confirm.text, ctx);
  $("confirm-ok").innerHTML = label(confirm.confirm, "Yes");
  $("confirm-deny").innerHTML = label(confirm.deny, "Cancel");
  $("confirm-ok").className = `ok ${confirm.style === "danger" ? "danger" : "primary"}`;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => {
    const closed = () => resolve(dialog.returnValue === "confirm");
    dialog.addEventListener("close", closed, { once: true });
  });
}

/** Tell the person when the app failed to take what they did, as Slack would. */
function reportAnswer(answer, what) {
  if (answer.ok) return;
  const why = SLACK_ERRORS[answer.error] ?? answer.error;
  toast(`${what} failed: ${why}`, "bad");
}

async function clickButton(messageElement, actionId, blockId) {
  const key = `${messageElement.dataset.channel}/${messageElement.dataset.ts}`;
  const message = store.messages.get(key);
  const button = message && findButton(message, actionId, blockId);
  if (!button) return;
  if (button.confirm && !(await confirmDialog(button.confirm))) return;
  const pending = `${key}/${actionId}`;
  ui.pending.add(pending);
  render();
  const answer = await api.click(ui.persona, message.channel, message.ts, actionId, button.value);
  ui.pending.delete(pending);
  render();
  reportAnswer(answer, `Your click on “${button.text?.text ?? actionId}”`);
}

/** Every click on the page, by what was clicked (the panes are redrawn, so no local handlers). */
const CLICKS = [
  ...FORM_CLICKS,
  ["[data-open-channel]", (el) => openChannel(el.dataset.openChannel)],
  ["[data-persona]", (el) => switchPersona(el.dataset.persona)],
  ["#persona-button", togglePersonaMenu],
  [
    ".bk-button:not(:disabled)",
    (el) => clickButton(el.closest(".msg"), el.dataset.actionId, el.dataset.blockId),
  ],
  [
    "[data-open-thread]",
    (el) => {
      ui.thread = el.dataset.openThread;
      render();
    },
  ],
  [
    "[data-close-thread]",
    () => {
      ui.thread = null;
      render();
    },
  ],
  [
    "[data-dismiss]",
    (el) => {
      ui.local = ui.local.filter((m) => m.ts !== el.dataset.dismiss);
      render();
    },
  ],
  ["#violations-button", () => $("violations-panel").classList.toggle("hidden")],
];

function onClick(event) {
  if (!event.target.closest("#persona-menu, #persona-button")) closePersonaMenu();
  if (!event.target.closest("#shortcut-menu, #shortcuts-button")) closeShortcutMenu();
  if (ui.openMenu && !event.target.closest(".bk-overflow")) {
    ui.openMenu = null;
    render();
  }
  for (const [selector, action] of CLICKS) {
    const element = event.target.closest(selector);
    if (element) {
      event.preventDefault();
      action(element);
      return;
    }
  }
}

// -- the live feed ----------------------------------------------------------------------------

// Events that arrive while a snapshot is being fetched wait here, then are applied on top of it
// in order: the snapshot may predate some of them, and a message's last event is its newest state.
let heldEvents = null;

/** Take a whole snapshot: on load, and again after every reconnection. */
async function load() {
  heldEvents = [];
  const state = await api.state();
  const held = heldEvents;
  heldEvents = null;
  if (state.ok === false) {
    toast(`Could not load the workspace: ${state.error}`, "bad");
    return;
  }
  store.users = state.users;
  store.channels = state.channels;
  store.roles = state.console?.roles ?? {};
  store.purposes = state.console?.purposes ?? {};
  store.violations = state.violations;
  store.views = state.views ?? {};
  store.shortcuts = state.shortcuts ?? [];
  store.messages = new Map(state.messages.map((m) => [keyOf(m), m]));
  if (!ui.persona) restore();
  // Violations are in the snapshot already; only messages need replaying.
  held.filter((event) => event.type !== "violation").forEach(onEvent);
  render();
}

/** The persona and channel of the last visit, or the first persona in #ops. */
function restore() {
  let saved = {};
  try {
    saved = JSON.parse(localStorage.getItem(SAVED) ?? "{}");
  } catch {
    // a damaged entry is as good as none
  }
  ui.persona = store.users[saved.persona] ? saved.persona : Object.keys(store.users)[0];
  if (typeof saved.channel === "string") ui.channel = saved.channel;
  ui.stickToBottom = true;
  // A permalink (/archives/…) lands here as ?channel=…&ts=…[&thread=…]: open that place.
  const linked = new URLSearchParams(location.search);
  if (linked.get("channel")) {
    ui.channel = linked.get("channel");
    if (linked.get("thread")) ui.thread = `${ui.channel}/${linked.get("thread")}`;
    history.replaceState(null, "", "/");
  }
}

function onEvent(event) {
  if (heldEvents) {
    heldEvents.push(event);
    return;
  }
  if (event.type === "views_changed") {
    store.views[event.user] = event.views;
    render();
    return;
  }
  if (event.type === "violation") {
    store.violations.push(event.text);
    toast(`Slack would refuse this: ${event.text}`, "bad");
    render();
    return;
  }
  const message = event.message;
  if (!message) return;
  const key = keyOf(message);
  const known = store.messages.has(key);
  store.messages.set(key, message);
  const seen =
    message.channel === ui.channel ||
    (ui.thread && `${message.channel}/${message.thread_ts}` === ui.thread);
  if (!known && !seen && visible(message) && listed(message.channel)) {
    ui.unread.set(message.channel, (ui.unread.get(message.channel) ?? 0) + 1);
  }
  render();
}

function connect() {
  const connection = $("connection");
  subscribe({
    onEvent,
    onOpen: () => {
      connection.textContent = "live";
      connection.className = "connection live";
      load();
    },
    onDrop: () => {
      connection.textContent = "reconnecting…";
      connection.className = "connection down";
    },
  });
}

// -- start ------------------------------------------------------------------------------------

document.addEventListener("click", onClick);
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape") {
    closePersonaMenu();
    closeShortcutMenu();
    $("violations-panel").classList.add("hidden");
  }
});
mountComposer({
  input: $("composer-input"),
  list: $("suggestions"),
  sendButton: $("send-button"),
  onSend: sendCommand,
});
mountFaultPanel($("faults"), (text) => toast(text, "bad"));
mountForms({ confirm: confirmDialog, onAnswer: reportAnswer });
connect();
