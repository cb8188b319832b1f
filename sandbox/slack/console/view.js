// Drawing the page from `store` and `ui`: the sidebar, the persona switcher, the open channel
// (or the App Home tab in the DM with the bot), the thread pane, the persona's open modal, the
// shortcuts menu and the violations list. Each pane is redrawn whole (the data is small); the
// channel keeps its scroll position unless the reader was already at the newest message, and
// the modal is redrawn only when its view changes, so typing in a form is never interrupted.

import { renderBlocks, renderMessageBody, textObject } from "./blocks.js";
import { html, raw } from "./html.js";
import {
  channelMessages,
  channelName,
  displayName,
  dmOf,
  homeView,
  isDm,
  keyOf,
  modalStack,
  renderContext,
  repliesOf,
  store,
  ui,
  visible,
} from "./state.js";

const $ = (id) => document.getElementById(id);

// -- people -----------------------------------------------------------------------------------

const PALETTE = ["#e8912d", "#2bac76", "#1d9bd1", "#9c4dcc", "#e01e5a", "#d4697a", "#36c5f0"];

/** A colour per person: by their place among the personas, so that no two share one. */
function colorOf(id) {
  const index = Object.keys(store.users).indexOf(id);
  return PALETTE[Math.max(index, 0) % PALETTE.length];
}

function avatar(id, size = "") {
  const initial = displayName(id).slice(0, 1).toUpperCase();
  return html`<span class="avatar person ${size}" style="background:${colorOf(id)}"
    >${initial}</span>`;
}

const BOT_AVATAR = raw('<span class="avatar bot">fp</span>');
const BOT_AVATAR_TINY = raw('<span class="avatar bot tiny">fp</span>');

function roleChips(id) {
  const roles = store.roles[id] ?? [];
  if (!roles.length) return raw('<span class="role none">no roles</span>');
  return roles.map((role) => html`<span class="role role-${role}">${role}</span>`);
}

// -- messages ---------------------------------------------------------------------------------

const timeFormat = new Intl.DateTimeFormat("en-US", { hour: "numeric", minute: "2-digit" });
const fullFormat = new Intl.DateTimeFormat("en-US", { dateStyle: "full", timeStyle: "medium" });

function postedAt(seconds) {
  if (!seconds) return "";
  const date = new Date(seconds * 1000);
  return html`<time class="msg-time" datetime="${date.toISOString()}"
    title="${fullFormat.format(date)}">${timeFormat.format(date)}</time>`;
}

const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;

function threadSummary(m) {
  const replies = repliesOf(m);
  if (!replies.length) return "";
  const last = replies[replies.length - 1].posted_at;
  const when = last ? ` · last reply ${timeFormat.format(new Date(last * 1000))}` : "";
  return html`<button type="button" class="thread-summary" data-open-thread="${keyOf(m)}">
    ${BOT_AVATAR_TINY}
    <span class="thread-count">${plural(replies.length, "reply", "replies")}</span>
    <span class="thread-last">${when}</span><span class="thread-view">View thread</span></button>`;
}

const EYE = raw(
  '<svg viewBox="0 0 20 20" aria-hidden="true"><path d="M10 4C5 4 1.7 8 1 10c.7 2 4 6 9 6s8.3-4 ' +
    "9-6c-.7-2-4-6-9-6zm0 10a4 4 0 1 1 0-8 4 4 0 0 1 0 8zm0-6a2 2 0 1 0 0 4 2 2 0 0 0 0-4z" +
    '"/></svg>',
);

const EDITED = raw('<span class="edited" title="Edited in place by the bot">(edited)</span>');

function author(m) {
  if (m.author === "slackbot") {
    return {
      picture: raw('<span class="avatar slackbot">S</span>'),
      name: raw('<span class="author">Slackbot</span>'),
    };
  }
  return {
    picture: BOT_AVATAR,
    name: raw('<span class="author">fpbot</span><span class="app-badge">APP</span>'),
  };
}

/**
 * What drawing the blocks of a message or a view needs beyond users and channels: which of its
 * elements wait for the bot, which overflow menu is open, what its form fields hold, and the
 * app's error texts. ``where`` is the message's "channel/ts" or the view's id.
 */
export function surfaceContext(where, errors = {}) {
  const prefix = `${where}/`;
  return {
    ...renderContext(),
    isPending: (actionId) => ui.pending.has(prefix + actionId),
    openMenu: ui.openMenu?.startsWith(prefix) ? ui.openMenu.slice(prefix.length) : null,
    values: ui.drafts[where] ?? {},
    errors: { ...errors, ...(ui.refused[where] ?? {}) },
  };
}

/** One message, as Slack lays it out: avatar, name, time, body, then edited/thread notes. */
export function messageHtml(m, { inThread = false } = {}) {
  const ctx = surfaceContext(keyOf(m));
  const { picture, name } = author(m);
  const classes = ["msg", m.ephemeral_for && "ephemeral", m.edited && "is-edited"];
  return html`<article class="${classes.filter(Boolean).join(" ")}" data-testid="message"
      data-channel="${m.channel}" data-ts="${m.ts}">
    ${m.ephemeral_for && html`<div class="ephemeral-note">${EYE}Only visible to you</div>`}
    <div class="msg-row">${picture}<div class="msg-main">
      <div class="msg-meta">${name}${postedAt(m.posted_at)}</div>
      <div class="msg-body">${raw(renderMessageBody(m, ctx))}${m.edited > 0 && EDITED}</div>
      ${!inThread && threadSummary(m)}
      ${m.local && html`<button type="button" class="dismiss" data-dismiss="${m.ts}"
        >Dismiss message</button>`}
    </div></div></article>`;
}

function channelIntro(channel) {
  if (isDm(channel)) {
    return html`<div class="intro"><span class="avatar bot big">fp</span><h2>fpbot</h2>
      <p>This is the very beginning of your direct messages with <b>fpbot</b>. It writes here to
      tell you how your change requests ended, and to hand over new secrets.</p></div>`;
  }
  const name = channelName(channel);
  const purpose = store.purposes[channel];
  return html`<div class="intro"><h2>#${name}</h2>
    <p>This is the very beginning of the <b>#${name}</b> channel${purpose && ` — ${purpose}`}.</p>
    <p class="hint">Type <code>/fp help</code> below to see what you may ask fpbot.</p></div>`;
}

// -- panes ------------------------------------------------------------------------------------

function channelLink(id, label, icon) {
  const unread = ui.unread.get(id) ?? 0;
  const classes = ["channel-link", id === ui.channel && "active", unread && "unread"];
  return html`<li><a href="#" class="${classes.filter(Boolean).join(" ")}"
      data-open-channel="${id}" data-testid="channel-${label}">
    ${icon}<span class="channel-label">${label}</span>
    ${unread > 0 && html`<span class="badge">${unread}</span>`}</a></li>`;
}

function renderSidebar() {
  const named = store.channels.filter((c) => !c.dm_user);
  $("channel-list").innerHTML = html`${named.map((c) =>
    channelLink(c.id, c.name, raw('<span class="hash">#</span>')),
  )}`;
  $("dm-list").innerHTML = channelLink(dmOf(ui.persona), "fpbot", BOT_AVATAR_TINY);
  $("acting-as").innerHTML = html`${avatar(ui.persona, "tiny")} ${displayName(ui.persona)}`;
}

function personaOption(user) {
  const info = store.users[user];
  const current = user === ui.persona ? " current" : "";
  return html`<button type="button" class="persona-option${current}" role="menuitem"
      data-persona="${user}">${avatar(user)}<span class="persona-text">
    <span class="persona-name">${displayName(user)} <span class="handle">@${info.name}</span></span>
    <span class="persona-roles">${roleChips(user)}<span class="tz">${info.tz}</span></span>
  </span></button>`;
}

function renderPersona() {
  const id = ui.persona;
  $("persona-button").innerHTML = html`${avatar(id)}<span class="persona-text">
    <span class="persona-name">${displayName(id)}</span>
    <span class="persona-roles">${roleChips(id)}</span></span><span class="caret">▾</span>`;
  $("persona-menu").innerHTML = html`<div class="menu-title">Act as…</div>
    ${Object.keys(store.users).map(personaOption)}`;
}

function renderTabs() {
  const appDm = isDm(ui.channel);
  const home = appDm && ui.tab === "home";
  $("app-tabs").classList.toggle("hidden", !appDm);
  for (const tab of $("app-tabs").querySelectorAll("[data-tab]")) {
    const active = tab.dataset.tab === (home ? "home" : "messages");
    tab.classList.toggle("active", active);
    tab.setAttribute("aria-selected", String(active));
  }
  $("messages").classList.toggle("hidden", home);
  $("composer").classList.toggle("hidden", home);
  $("home").classList.toggle("hidden", !home);
  return home;
}

/** The App Home tab: the view the app published for the persona, or word that it has not. */
function renderHome() {
  const home = homeView();
  $("home").innerHTML = home
    ? html`<div class="home-view" data-view-id="${home.id}" data-testid="home-view">
        ${raw(renderBlocks(home.view.blocks, surfaceContext(home.id, home.errors)))}</div>`
    : html`<div class="intro"><span class="avatar bot big">fp</span><h2>fpbot</h2>
        <p><span class="spinner"></span>Waiting for fpbot to publish your Home tab…</p></div>`;
}

let drawnModal = ""; // what the dialog shows now, to redraw it only when that changes

/** The persona's open modal: its top view, with ← back when views are stacked under it. */
function renderModal() {
  const dialog = $("modal");
  const stack = modalStack();
  const top = stack[stack.length - 1];
  if (!top) {
    drawnModal = "";
    if (dialog.open) dialog.close();
    return;
  }
  const signature = JSON.stringify([
    ui.persona,
    top.id,
    top.view.hash,
    stack.length,
    top.errors,
    ui.refused[top.id],
    ui.openMenu,
    [...ui.pending].filter((key) => key.startsWith(`${top.id}/`)),
  ]);
  if (signature === drawnModal && dialog.open) return;
  drawnModal = signature;
  const view = top.view;
  const ctx = surfaceContext(top.id, top.errors);
  const close = view.close ?? { type: "plain_text", text: "Cancel" };
  const busy = ui.pending.has(`${top.id}/submit`);
  dialog.innerHTML = html`<div class="modal-frame" data-view-id="${top.id}"
      data-testid="modal-view" data-callback-id="${view.callback_id}">
    <header class="modal-header">
      ${stack.length > 1 &&
      html`<button type="button" class="modal-back" data-modal-close data-testid="modal-back"
        aria-label="Back">←</button>`}
      <h2 class="modal-title" data-testid="modal-title">${raw(textObject(view.title))}</h2>
      <button type="button" class="close" data-modal-close aria-label="Close">×</button>
    </header>
    <div class="modal-body">${raw(renderBlocks(view.blocks, ctx))}</div>
    <footer class="modal-footer">
      <button type="button" class="modal-cancel" data-modal-close
        data-testid="modal-cancel">${raw(textObject(close))}</button>
      ${view.submit &&
      html`<button type="button" class="modal-submit${busy ? " busy" : ""}" data-modal-submit
        data-testid="modal-submit" ${busy && raw("disabled")}
        >${raw(textObject(view.submit))}</button>`}
    </footer></div>`;
  if (!dialog.open) dialog.showModal();
}

/** The ⚡ menu: the app's global shortcuts. */
function renderShortcuts() {
  $("shortcut-menu").innerHTML = html`<div class="menu-title">Shortcuts for fpbot</div>
    ${store.shortcuts.map(
      (shortcut) => html`<button type="button" class="shortcut" role="menuitem"
        data-shortcut="${shortcut.callback_id}">
        <span class="shortcut-name">⚡ ${shortcut.name}</span>
        <span class="shortcut-description">${shortcut.description ?? ""}</span></button>`,
    )}
    ${store.shortcuts.length === 0 && html`<div class="shortcut-none">No shortcuts</div>`}`;
}

function renderChannel() {
  const channel = ui.channel;
  const name = channelName(channel);
  $("channel-title").innerHTML = isDm(channel)
    ? html`${BOT_AVATAR_TINY} fpbot <span class="app-badge">APP</span>`
    : html`<span class="hash">#</span>${name}`;
  const purpose = ui.tab === "home" ? "Your App Home in fpbot" : "Your direct messages with the bot";
  $("channel-purpose").textContent = isDm(channel) ? purpose : (store.purposes[channel] ?? "");
  const where = isDm(channel) ? "fpbot" : `#${name}`;
  $("composer-input").placeholder = `Message ${where} — try /fp help`;

  const list = $("messages");
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  list.innerHTML = html`${channelIntro(channel)}${channelMessages(channel).map((m) =>
    messageHtml(m),
  )}`;
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
  pane.innerHTML = html`<header class="thread-header">
      <div><b>Thread</b> <span class="thread-where">#${channelName(parent.channel)}</span></div>
      <button type="button" class="close" data-close-thread aria-label="Close thread">×</button>
    </header>
    <div class="thread-body">${messageHtml(parent, { inThread: true })}
      <div class="thread-divider"><span>${plural(replies.length, "reply", "replies")}</span></div>
      ${replies.map((m) => messageHtml(m, { inThread: true }))}</div>`;
}

function renderViolations() {
  const count = store.violations.length;
  const button = $("violations-button");
  button.classList.toggle("hidden", count === 0);
  button.textContent = `⚠ ${plural(count, "Slack rule violation", "Slack rule violations")}`;
  $("violations-panel").innerHTML = html`<h3>Slack would have refused these (the fake recorded
    them)</h3><ol>${store.violations.map((v) => html`<li>${v}</li>`)}</ol>`;
}

let frame = 0;

/** Redraw once per animation frame, however many events arrived. */
export function render() {
  if (frame) return;
  frame = requestAnimationFrame(() => {
    frame = 0;
    if (!ui.persona) return;
    renderSidebar();
    renderPersona();
    if (renderTabs()) renderHome();
    renderChannel();
    renderThread();
    renderShortcuts();
    renderViolations();
    renderModal();
  });
}
