// The console's model: what the fake Slack holds (`store`, a mirror), what this browser is
// looking at (`ui`), and the rules for who sees which message. No drawing and no I/O here.

/** What the fake Slack holds, mirrored from /_console/state and the live feed. */
export const store = {
  users: {}, // id → {name, real_name, tz}, in the personas' order
  channels: [], // [{id, name, dm_user?}]
  roles: {}, // user id → role names (from the policy)
  purposes: {}, // channel id → what it is for (from the policy)
  messages: new Map(), // "channel/ts" → message
  violations: [], // Slack rules the bot broke, as the fake recorded them
  views: {}, // user id → {modals: [view, …] (root first), home: view | null}
  shortcuts: [], // the app's global shortcuts: [{name, callback_id, description}]
};

/** What this browser is looking at; the only state the page owns. */
export const ui = {
  persona: null,
  channel: "C0OPS",
  thread: null, // "channel/ts" of the open thread's parent
  unread: new Map(), // channel → new messages since the persona last looked
  pending: new Set(), // "channel/ts/action_id" of clicks awaiting the bot's acknowledgement
  local: [], // Slackbot notes only this browser sees (command failures)
  stickToBottom: false, // scroll to the newest message on the next draw
  tab: "messages", // in the DM with the bot: "home" (the App Home) or "messages"
  openMenu: null, // "where/action_id" of the overflow menu shown open
  drafts: {}, // view id → {action_id: what the form field holds} (sent with every view action)
  refused: {}, // view id → {block_id: text}: fields Slack's client would not submit
};

/** The modal views the persona has open, root first. */
export const modalStack = () => store.views[ui.persona]?.modals ?? [];

/** The persona's published Home tab, or null. */
export const homeView = () => store.views[ui.persona]?.home ?? null;

export const keyOf = (m) => `${m.channel}/${m.ts}`;

export const isDm = (channel) => channel.startsWith("D");

/** The persona's DM with the bot: the id the fake gives it (D + user id), opened or not yet. */
export function dmOf(user) {
  return store.channels.find((c) => c.dm_user === user)?.id ?? `D${user}`;
}

/** Whether the reader has this channel in their sidebar: a named channel or their own DM. */
export const listed = (channel) => !isDm(channel) || channel === dmOf(ui.persona);

/** Slack shows an ephemeral message only to its reader, and never a deleted one. */
export const visible = (m) =>
  !m.deleted && (m.ephemeral_for == null || m.ephemeral_for === ui.persona);

/** A reply is shown in its thread, not in the channel (unless its parent is unknown). */
const isReply = (m) =>
  Boolean(m.thread_ts) && m.thread_ts !== m.ts && store.messages.has(`${m.channel}/${m.thread_ts}`);

const byTs = (a, b) => (a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : 0);

/** The messages the persona sees in a channel, oldest first, their local notes included. */
export function channelMessages(channel) {
  const recorded = [...store.messages.values()].filter(
    (m) => m.channel === channel && visible(m) && !isReply(m),
  );
  const notes = ui.local.filter((m) => m.channel === channel && m.ephemeral_for === ui.persona);
  return [...recorded, ...notes].sort(byTs);
}

/** The replies under ``parent`` that the persona sees, oldest first. */
export function repliesOf(parent) {
  return [...store.messages.values()]
    .filter((m) => m.channel === parent.channel && m.thread_ts === parent.ts && m.ts !== parent.ts)
    .filter(visible)
    .sort(byTs);
}

export function channelName(id) {
  if (isDm(id)) return "fpbot";
  return store.channels.find((c) => c.id === id)?.name ?? id;
}

/** "Vera": the sample personas carry their role in their real name; the role chips show it. */
export function displayName(id) {
  const user = store.users[id];
  const name = user?.real_name ?? user?.name ?? id;
  return name.replace(/\s*\([^)]*\)\s*$/, "");
}

/** What mrkdwn needs to draw mentions, channels and dates for this reader. */
export function renderContext() {
  const channels = Object.fromEntries(store.channels.map((c) => [c.id, c.name]));
  return { users: store.users, channels, persona: ui.persona, now: new Date() };
}
