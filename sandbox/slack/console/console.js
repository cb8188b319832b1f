// The sandbox's Slack console: channels, DMs, threads and a composer, drawn from what the fake
// Slack recorded, so the bot's messages can be judged as a person in Slack would see them.
//
// Data flow: GET /_console/state fills `store`; the SSE feed (/_console/events) keeps it current;
// every change schedules one redraw of the visible panes from `store` and `ui`. The page holds no
// truth of its own except what only this browser sees: the persona, the open channel and thread,
// and Slackbot's local error notes.

import { api, subscribe } from "./api.js";
import { findButton, renderMessageBody, textObject } from "./blocks.js";
import { mountComposer } from "./composer.js";
import { mountFaultPanel } from "./faults.js";
import { escapeHtml } from "./mrkdwn.js";

// -- state ------------------------------------------------------------------------------------

/** What the fake Slack holds (mirrored). */
const store = {
  users: {},
  channels: [],
  bot: {},
  roles: {},
  purposes: {},
  messages: new Map(), // "channel/ts" → message
  violations: [],
};

/** What this browser is looking at. */
const ui = {
  persona: null,
  channel: "C0OPS",
  thread: null, // "channel/ts" of the open thread's parent
  unread: new Map(), // channel → count, for the current persona
  pending: new Set(), // "channel/ts/action_id" of clicks awaiting the bot's acknowledgement
  local: [], // Slackbot notes only this browser sees (command failures)
  sending: 0,
};

const $ = (id) => document.getElementById(id);
const keyOf = (m) => `${m.channel}/${m.ts}`;
const SAVED = "fpbot-console";

// -- who sees what ----------------------------------------------------------------------------

const isDm = (channel) => channel.startsWith("D");

/** The persona's DM with the bot: the id the fake gives it, opened or not yet. */
function dmOf(user) {
  return store.channels.find((c) => c.dm_user === user)?.id ?? `D${user}`;
}

/** Slack shows an ephemeral message only to its reader, and never a deleted one. */
const visible = (m) => !m.deleted && (m.ephemeral_for == null || m.ephemeral_for === ui.persona);

/** A reply is shown in its thread, not in the channel (unless its parent is unknown). */
const isReply = (m) =>
  Boolean(m.thread_ts) && m.thread_ts !== m.ts && store.messages.has(`${m.channel}/${m.thread_ts}`);

const byTs = (a, b) => (a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : 0);

function channelMessages(channel) {
  const recorded = [...store.messages.values()].filter(
    (m) => m.channel === channel && visible(m) && !isReply(m),
  );
  const notes = ui.local.filter((m) => m.channel === channel && m.ephemeral_for === ui.persona);
  return [...recorded, ...notes].sort(byTs);
}

function repliesOf(parent) {
  return [...store.messages.values()]
    .filter((m) => m.channel === parent.channel && m.thread_ts === parent.ts && m.ts !== parent.ts)
    .filter(visible)
    .sort(byTs);
}

function channelName(id) {
  if (isDm(id)) return "fpbot";
  return store.channels.find((c) => c.id === id)?.name ?? id;
}

// -- people -----------------------------------------------------------------------------------

const PALETTE = ["#e8912d", "#2bac76", "#1d9bd1", "#9c4dcc", "#e01e5a", "#d4697a", "#36c5f0", "#5c8a2d"];

/** A colour per person: by their place among the personas, so that no two share one. */
function colorOf(id) {
  const index = Object.keys(store.users).indexOf(id);
  return PALETTE[(index < 0 ? 0 : index) % PALETTE.length];
}

/** "Vera": the sample personas carry their role in their real name; the role chips show it. */
function displayName(id) {
  const user = store.users[id];
  const name = user?.real_name ?? user?.name ?? id;
  return name.replace(/\s*\([^)]*\)\s*$/, "");
}

function avatar(id, extra = "") {
  const initial = escapeHtml(displayName(id).slice(0, 1).toUpperCase());
  return `<span class="avatar person ${extra}" style="background:${colorOf(id)}">${initial}</span>`;
}

function roleChips(id) {
  const roles = store.roles[id] ?? [];
  if (!roles.length) return '<span class="role none">no roles</span>';
  return roles.map((role) => `<span class="role role-${escapeHtml(role)}">${escapeHtml(role)}</span>`).join("");
}

// -- rendering: messages ------------------------------------------------------------------------

const timeFormat = new Intl.DateTimeFormat("en-US", { hour: "numeric", minute: "2-digit" });
const fullFormat = new Intl.DateTimeFormat("en-US", { dateStyle: "full", timeStyle: "medium" });

function renderContext() {
  const channels = Object.fromEntries(store.channels.map((c) => [c.id, c.name]));
  return { users: store.users, channels, persona: ui.persona, now: new Date() };
}

function timeHtml(posted) {
  if (!posted) return "";
  const date = new Date(posted * 1000);
  return `<time class="msg-time" datetime="${date.toISOString()}" title="${escapeHtml(fullFormat.format(date))}">${timeFormat.format(date)}</time>`;
}

function threadSummary(m) {
  const replies = repliesOf(m);
  if (!replies.length) return "";
  const last = replies[replies.length - 1];
  const when = last.posted_at ? ` · last reply ${timeFormat.format(new Date(last.posted_at * 1000))}` : "";
  const count = `${replies.length} ${replies.length === 1 ? "reply" : "replies"}`;
  return (
    `<button type="button" class="thread-summary" data-open-thread="${escapeHtml(keyOf(m))}">` +
    `<span class="avatar bot tiny">fp</span><span class="thread-count">${count}</span>` +
    `<span class="thread-last">${escapeHtml(when)}</span><span class="thread-view">View thread</span></button>`
  );
}

/** One message, as Slack lays it out: avatar, name, time, body, then edited/thread notes. */
function messageHtml(m, { inThread = false } = {}) {
  const ctx = {
    ...renderContext(),
    isPending: (actionId) => ui.pending.has(`${keyOf(m)}/${actionId}`),
  };
  const slackbot = m.author === "slackbot";
  const author = slackbot
    ? '<span class="author">Slackbot</span>'
    : '<span class="author">fpbot</span><span class="app-badge">APP</span>';
  const picture = slackbot ? '<span class="avatar slackbot">S</span>' : '<span class="avatar bot">fp</span>';
  const ephemeral = m.ephemeral_for
    ? '<div class="ephemeral-note"><svg viewBox="0 0 20 20" aria-hidden="true"><path d="M10 4C5 4 1.7 8 1 10c.7 2 4 6 9 6s8.3-4 9-6c-.7-2-4-6-9-6zm0 10a4 4 0 1 1 0-8 4 4 0 0 1 0 8zm0-6a2 2 0 1 0 0 4 2 2 0 0 0 0-4z"/></svg>Only visible to you</div>'
    : "";
  const edited = m.edited ? '<span class="edited" title="Edited in place by the bot">(edited)</span>' : "";
  const dismiss = m.local
    ? `<button type="button" class="dismiss" data-dismiss="${escapeHtml(m.ts)}">Dismiss message</button>`
    : "";
  const classes = ["msg", m.ephemeral_for ? "ephemeral" : "", m.edited ? "is-edited" : ""];
  return (
    `<article class="${classes.join(" ").trim()}" data-channel="${escapeHtml(m.channel)}" data-ts="${escapeHtml(m.ts)}"` +
    ` data-testid="message">${ephemeral}<div class="msg-row">${picture}<div class="msg-main">` +
    `<div class="msg-meta">${author}${timeHtml(m.posted_at)}</div>` +
    `<div class="msg-body">${renderMessageBody(m, ctx)}${edited}</div>` +
    `${inThread ? "" : threadSummary(m)}${dismiss}</div></div></article>`
  );
}

function emptyChannelHtml(channel) {
  if (isDm(channel)) {
    return (
      '<div class="intro"><span class="avatar bot big">fp</span><h2>fpbot</h2>' +
      "<p>This is the very beginning of your direct messages with <b>fpbot</b>. " +
      "It writes here to tell you how your change requests ended, and to hand over new secrets.</p></div>"
    );
  }
  const purpose = store.purposes[channel];
  return (
    `<div class="intro"><h2>#${escapeHtml(channelName(channel))}</h2>` +
    `<p>This is the very beginning of the <b>#${escapeHtml(channelName(channel))}</b> channel` +
    `${purpose ? ` — ${escapeHtml(purpose)}` : ""}.</p>` +
    "<p class=\"hint\">Type <code>/fp help</code> below to see what you may ask fpbot.</p></div>"
  );
}

// -- rendering: panes -------------------------------------------------------------------------

function renderSidebar() {
  const link = (id, label, icon) => {
    const unread = ui.unread.get(id) ?? 0;
    const active = id === ui.channel ? " active" : "";
    const bold = unread ? " unread" : "";
    const badge = unread ? `<span class="badge">${unread}</span>` : "";
    return (
      `<li><a href="#" class="channel-link${active}${bold}" data-open-channel="${escapeHtml(id)}"` +
      ` data-testid="channel-${escapeHtml(label)}">${icon}<span class="channel-label">${escapeHtml(label)}</span>${badge}</a></li>`
    );
  };
  $("channel-list").innerHTML = store.channels
    .filter((c) => !c.dm_user)
    .map((c) => link(c.id, c.name, '<span class="hash">#</span>'))
    .join("");
  $("dm-list").innerHTML = link(dmOf(ui.persona), "fpbot", '<span class="avatar bot tiny">fp</span>');
  $("acting-as").innerHTML = `${avatar(ui.persona, "tiny")} ${escapeHtml(displayName(ui.persona))}`;
}

function renderPersona() {
  const id = ui.persona;
  $("persona-button").innerHTML =
    `${avatar(id)}<span class="persona-text"><span class="persona-name">${escapeHtml(displayName(id))}` +
    `</span><span class="persona-roles">${roleChips(id)}</span></span><span class="caret">▾</span>`;
  $("persona-menu").innerHTML =
    '<div class="menu-title">Act as…</div>' +
    Object.keys(store.users)
      .map((user) => {
        const info = store.users[user];
        const current = user === id ? " current" : "";
        return (
          `<button type="button" class="persona-option${current}" role="menuitem" data-persona="${escapeHtml(user)}">` +
          `${avatar(user)}<span class="persona-text"><span class="persona-name">${escapeHtml(displayName(user))}` +
          ` <span class="handle">@${escapeHtml(info.name ?? user)}</span></span>` +
          `<span class="persona-roles">${roleChips(user)}<span class="tz">${escapeHtml(info.tz ?? "")}</span></span></span></button>`
        );
      })
      .join("");
}

function renderChannel() {
  const channel = ui.channel;
  const name = channelName(channel);
  $("channel-title").innerHTML = isDm(channel)
    ? `<span class="avatar bot tiny">fp</span> fpbot <span class="app-badge">APP</span>`
    : `<span class="hash">#</span>${escapeHtml(name)}`;
  $("channel-purpose").textContent = isDm(channel)
    ? "Your direct messages with the bot"
    : (store.purposes[channel] ?? "");
  const input = $("composer-input");
  input.placeholder = `Message ${isDm(channel) ? "fpbot" : `#${name}`} — try /fp help`;

  const list = $("messages");
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  const messages = channelMessages(channel);
  list.innerHTML = messages.length
    ? emptyChannelHtml(channel) + messages.map((m) => messageHtml(m)).join("")
    : emptyChannelHtml(channel);
  // Stay at the newest message unless the reader has scrolled up to read older ones.
  if (atBottom || ui.stickToBottom) list.scrollTop = list.scrollHeight;
  ui.stickToBottom = false;
}

function renderThread() {
  const pane = $("thread");
  const parent = ui.thread && store.messages.get(ui.thread);
  const open = Boolean(parent && visible(parent));
  pane.classList.toggle("hidden", !open);
  $("layout").classList.toggle("with-thread", open);
  if (!open) return;
  const replies = repliesOf(parent);
  const count = `${replies.length} ${replies.length === 1 ? "reply" : "replies"}`;
  pane.innerHTML =
    `<header class="thread-header"><div><b>Thread</b> <span class="thread-where">#${escapeHtml(channelName(parent.channel))}</span></div>` +
    '<button type="button" class="close" data-close-thread aria-label="Close thread">×</button></header>' +
    `<div class="thread-body">${messageHtml(parent, { inThread: true })}` +
    `<div class="thread-divider"><span>${count}</span></div>` +
    `${replies.map((m) => messageHtml(m, { inThread: true })).join("")}</div>`;
}

function renderViolations() {
  const button = $("violations-button");
  const count = store.violations.length;
  button.classList.toggle("hidden", count === 0);
  button.textContent = `⚠ ${count} Slack rule ${count === 1 ? "violation" : "violations"}`;
  $("violations-panel").innerHTML =
    "<h3>Slack would have refused these (the fake recorded them)</h3><ol>" +
    store.violations.map((v) => `<li>${escapeHtml(v)}</li>`).join("") +
    "</ol>";
}

let frame = 0;

/** Redraw once per animation frame, however many events arrived. */
function render() {
  if (frame) return;
  frame = requestAnimationFrame(() => {
    frame = 0;
    if (!ui.persona) return;
    renderSidebar();
    renderPersona();
    renderChannel();
    renderThread();
    renderViolations();
  });
}

// -- notices ------------------------------------------------------------------------------------

function toast(text, kind = "info") {
  const note = document.createElement("div");
  note.className = `toast ${kind}`;
  note.textContent = text;
  $("toasts").append(note);
  setTimeout(() => note.remove(), 6000);
}

function status(html, kind = "") {
  const line = $("composer-status");
  line.className = `composer-status ${kind}`;
  line.innerHTML = html;
}

let localCounter = 0;

/**
 * A note from Slackbot that only this reader sees, as Slack shows when a command fails before
 * the app answers. Its ts sorts after everything recorded so far.
 */
function slackbotNote(channel, text) {
  const newest = [...store.messages.values()].reduce((max, m) => (m.ts > max ? m.ts : max), "0");
  localCounter += 1;
  ui.local.push({
    channel,
    ts: `${newest}~${String(localCounter).padStart(4, "0")}`,
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

// -- actions ------------------------------------------------------------------------------------

function save() {
  localStorage.setItem(SAVED, JSON.stringify({ persona: ui.persona, channel: ui.channel }));
}

function openChannel(channel) {
  ui.channel = channel;
  ui.unread.delete(channel);
  ui.stickToBottom = true;
  save();
  render();
  $("composer-input").focus();
}

function switchPersona(user) {
  // A DM belongs to its persona: looking at "your DM" follows you to the new persona's.
  const wasDm = isDm(ui.channel);
  ui.persona = user;
  ui.unread.clear();
  if (wasDm) ui.channel = dmOf(user);
  if (ui.thread && !visible(store.messages.get(ui.thread) ?? { deleted: true })) ui.thread = null;
  closePersonaMenu();
  status(""); // the last command's outcome was someone else's
  openChannel(ui.channel);
}

function closePersonaMenu() {
  $("persona-menu").classList.add("hidden");
  $("persona-button").setAttribute("aria-expanded", "false");
}

/** What Slack says when a slash command fails before the app answers. */
const SLACK_ERRORS = {
  operation_timeout: "the app did not answer within 3 seconds",
  dispatch_failed: "the app answered with an HTTP error",
};

async function sendCommand(text) {
  const channel = ui.channel;
  const who = `@${escapeHtml(store.users[ui.persona]?.name ?? ui.persona)}`;
  if (!text.startsWith("/")) {
    slackbotNote(
      channel,
      "This console sends slash commands only — messages are not simulated. Try `/fp help`.",
    );
    return;
  }
  const [command] = text.split(/\s/, 1);
  if (command !== "/fp") {
    slackbotNote(
      channel,
      `\`${command}\` is not a valid command. In Slack, all messages that start with the "/" character are interpreted as commands.`,
    );
    return;
  }
  ui.sending += 1;
  ui.stickToBottom = true;
  status(`<span class="spinner"></span>Sending <code>${escapeHtml(text)}</code> as ${who}…`);
  const answer = await api.command(ui.persona, channel, text.slice(3).trim());
  ui.sending -= 1;
  if (answer.ok) {
    status(`✓ <code>${escapeHtml(text)}</code> sent as ${who} · acknowledged in ${answer.elapsed_ms} ms`, "ok");
  } else if (SLACK_ERRORS[answer.error]) {
    status(`✗ <code>${escapeHtml(text)}</code>: ${SLACK_ERRORS[answer.error]}`, "bad");
    slackbotNote(channel, `\`${command}\` failed with the error "${answer.error}"`);
  } else {
    status(`✗ ${escapeHtml(answer.error)}`, "bad");
  }
}

/** Show a button's Block Kit confirmation dialog; resolves to true when confirmed. */
function confirmDialog(confirm) {
  const dialog = $("confirm-dialog");
  $("confirm-title").innerHTML = textObject(confirm.title, renderContext());
  $("confirm-text").innerHTML = textObject(confirm.text, renderContext());
  $("confirm-ok").innerHTML = textObject(confirm.confirm ?? { type: "plain_text", text: "Yes" });
  $("confirm-deny").innerHTML = textObject(confirm.deny ?? { type: "plain_text", text: "Cancel" });
  $("confirm-ok").className = `ok ${confirm.style === "danger" ? "danger" : "primary"}`;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "confirm"), { once: true });
  });
}

async function clickButton(messageEl, actionId) {
  const key = `${messageEl.dataset.channel}/${messageEl.dataset.ts}`;
  const message = store.messages.get(key);
  const button = message && findButton(message, actionId);
  if (!button) return;
  if (button.confirm && !(await confirmDialog(button.confirm))) return;
  const pending = `${key}/${actionId}`;
  ui.pending.add(pending);
  render();
  const answer = await api.click(ui.persona, message.channel, message.ts, actionId);
  ui.pending.delete(pending);
  render();
  if (!answer.ok) {
    const why = SLACK_ERRORS[answer.error] ?? answer.error;
    toast(`Your click on “${button.text?.text ?? actionId}” failed: ${why}`, "bad");
  }
}

function onClick(event) {
  const target = event.target;
  const channelLink = target.closest("[data-open-channel]");
  if (channelLink) {
    event.preventDefault();
    openChannel(channelLink.dataset.openChannel);
    return;
  }
  const persona = target.closest("[data-persona]");
  if (persona) return switchPersona(persona.dataset.persona);
  if (target.closest("#persona-button")) {
    const menu = $("persona-menu");
    menu.classList.toggle("hidden");
    $("persona-button").setAttribute("aria-expanded", String(!menu.classList.contains("hidden")));
    return;
  }
  if (!target.closest("#persona-menu")) closePersonaMenu();
  const button = target.closest(".bk-button");
  if (button && !button.disabled) {
    clickButton(button.closest(".msg"), button.dataset.actionId);
    return;
  }
  const threadLink = target.closest("[data-open-thread]");
  if (threadLink) {
    ui.thread = threadLink.dataset.openThread;
    render();
    return;
  }
  if (target.closest("[data-close-thread]")) {
    ui.thread = null;
    render();
    return;
  }
  const dismiss = target.closest("[data-dismiss]");
  if (dismiss) {
    ui.local = ui.local.filter((m) => m.ts !== dismiss.dataset.dismiss);
    render();
    return;
  }
  if (target.closest("#violations-button")) {
    $("violations-panel").classList.toggle("hidden");
  }
}

// -- the live feed ----------------------------------------------------------------------------

/** Take a whole snapshot: on load, and again after every reconnection. */
async function load() {
  const state = await api.state();
  if (state.ok === false) {
    toast(`Could not load the workspace: ${state.error}`, "bad");
    return;
  }
  store.users = state.users;
  store.channels = state.channels;
  store.bot = state.bot;
  store.roles = state.console?.roles ?? {};
  store.purposes = state.console?.purposes ?? {};
  store.violations = state.violations;
  store.messages = new Map(state.messages.map((m) => [keyOf(m), m]));
  if (!ui.persona) {
    const saved = JSON.parse(localStorage.getItem(SAVED) ?? "{}");
    ui.persona = store.users[saved.persona] ? saved.persona : Object.keys(store.users)[0];
    if (saved.channel) ui.channel = saved.channel;
    ui.stickToBottom = true;
  }
  render();
}

function onEvent(event) {
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
  if (!known && message.channel.startsWith("D") && !store.channels.some((c) => c.id === message.channel)) {
    // A DM the bot just opened: the snapshot lists it; until then, infer its owner from the id.
    store.channels.push({ id: message.channel, name: `dm-${message.channel.slice(1)}`, dm_user: message.channel.slice(1) });
  }
  const seen = message.channel === ui.channel || (ui.thread && `${message.channel}/${message.thread_ts}` === ui.thread);
  if (event.type === "message_created" && visible(message) && !seen) {
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
connect();
