// Slack's mrkdwn → safe HTML.
//
// Every function here returns an HTML string in which all text the bot sent has been escaped:
// messages are the bot's output under test, so they are treated as untrusted. Slack escapes only
// &, < and > in mrkdwn (&amp; &lt; &gt;); a raw < starts a control sequence (<@U…>, <#C…>,
// <!date^…>, <url|text>). The rules follow what Slack's clients show, closely enough to judge
// a message: *bold*, _italic_, ~strike~, `code`, ```pre```, > quotes, :emoji:.

import { emoji } from "./emoji.js";

/** Escape text for HTML (attribute-safe too). */
export function escapeHtml(text) {
  return String(text)
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&#39;");
}

/** Undo Slack's three escapes (&amp; last, so "&amp;lt;" stays "&lt;"). */
export function unescapeSlack(text) {
  return String(text).replaceAll("&lt;", "<").replaceAll("&gt;", ">").replaceAll("&amp;", "&");
}

/** Literal text from a message, ready for HTML. */
const literal = (text) => escapeHtml(unescapeSlack(text));

// -- dates ----------------------------------------------------------------------------------
//
// <!date^1392734382^{date_short_pretty} {time}|fallback> shows the moment in the reader's own
// time zone: here, the browser's. Month names stay English, as in Slack's English UI.

const LOCALE = "en-US";
const DAY_MS = 86_400_000;

const format = (date, options) => new Intl.DateTimeFormat(LOCALE, options).format(date);

function ordinal(day) {
  const tens = day % 100;
  if (tens >= 11 && tens <= 13) return `${day}th`;
  return `${day}${{ 1: "st", 2: "nd", 3: "rd" }[day % 10] ?? "th"}`;
}

/** "Today", "Yesterday" or "Tomorrow" when ``date`` is one of those days, else null. */
function relativeDay(date, now) {
  const midnight = (d) => new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
  const days = Math.round((midnight(date) - midnight(now)) / DAY_MS);
  return { [-1]: "Yesterday", 0: "Today", 1: "Tomorrow" }[days] ?? null;
}

function longDate(date) {
  return `${format(date, { month: "long" })} ${ordinal(date.getDate())}, ${date.getFullYear()}`;
}

function ago(date, now) {
  const seconds = Math.round((now - date) / 1000);
  const future = seconds < 0;
  const units = [
    ["year", 31_536_000],
    ["month", 2_592_000],
    ["day", 86_400],
    ["hour", 3_600],
    ["minute", 60],
  ];
  for (const [unit, size] of units) {
    const n = Math.floor(Math.abs(seconds) / size);
    if (n >= 1) {
      const amount = `${n} ${unit}${n === 1 ? "" : "s"}`;
      return future ? `in ${amount}` : `${amount} ago`;
    }
  }
  return future ? "in a few seconds" : "a few seconds ago";
}

/** The value of one {token} of Slack's date formatting. */
function dateToken(token, date, now) {
  const short = () => format(date, { month: "short", day: "numeric", year: "numeric" });
  switch (token) {
    case "date_num":
      return [date.getFullYear(), date.getMonth() + 1, date.getDate()]
        .map((part) => String(part).padStart(2, "0"))
        .join("-");
    case "date":
      return longDate(date);
    case "date_short":
      return short();
    case "date_long":
      return `${format(date, { weekday: "long" })}, ${longDate(date)}`;
    case "date_pretty":
      return relativeDay(date, now) ?? longDate(date);
    case "date_short_pretty":
      return relativeDay(date, now) ?? short();
    case "date_long_pretty":
      return relativeDay(date, now) ?? `${format(date, { weekday: "long" })}, ${longDate(date)}`;
    case "time":
      return format(date, { hour: "numeric", minute: "2-digit" });
    case "time_secs":
      return format(date, { hour: "numeric", minute: "2-digit", second: "2-digit" });
    case "ago":
      return ago(date, now);
    default:
      return null;
  }
}

/**
 * Render ``<!date^unix^format^optional_link|fallback>`` (the part inside the angle brackets).
 * A malformed one shows its fallback text, as Slack does.
 */
export function formatSlackDate(inner, now = new Date()) {
  const [spec, ...rest] = inner.split("|");
  const fallback = rest.join("|");
  const [, unix, pattern = "", link] = spec.split("^");
  const seconds = Number(unix);
  if (!Number.isFinite(seconds) || unix === "") return literal(fallback || inner);
  const date = new Date(seconds * 1000);
  let broken = false;
  const text = unescapeSlack(pattern).replace(/\{(\w+)\}/g, (whole, token) => {
    const value = dateToken(token, date, now);
    if (value === null) broken = true;
    return value ?? whole;
  });
  if (broken) return literal(fallback || inner);
  // The tooltip says which time zone the reader is seeing, since that is the point of the format.
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const title = `${format(date, { dateStyle: "full", timeStyle: "long" })} (${zone})`;
  const shown = escapeHtml(text);
  const body = isSafeUrl(link) ? linkHtml(link, shown) : shown;
  const iso = date.toISOString();
  return `<time class="slack-date" datetime="${iso}" title="${escapeHtml(title)}">${body}</time>`;
}

// -- control sequences <…> --------------------------------------------------------------------

function isSafeUrl(url) {
  return typeof url === "string" && /^(https?:|mailto:)/i.test(unescapeSlack(url));
}

function linkHtml(url, innerHtml) {
  const href = escapeHtml(unescapeSlack(url));
  return `<a href="${href}" target="_blank" rel="noopener noreferrer">${innerHtml}</a>`;
}

/** <@U…> or <@U…|name>: shown as @name; the reader's own mentions are highlighted. */
function userMention(id, label, ctx) {
  const user = ctx.users?.[id];
  const name = user?.name ?? label ?? id;
  const self = id === ctx.persona ? " self" : "";
  return `<span class="mention${self}" data-user="${escapeHtml(id)}">@${literal(name)}</span>`;
}

/** <#C…> or <#C…|name>: shown as #name, and clicking it opens the channel. */
function channelMention(id, label, ctx) {
  const name = ctx.channels?.[id] ?? label ?? id;
  const attributes = `class="mention channel-ref" href="#" data-open-channel="${escapeHtml(id)}"`;
  return `<a ${attributes}>#${literal(name)}</a>`;
}

/** <!here>, <!channel>, <!subteam^S…|@handle>, <!date^…>. */
function special(inner, ctx) {
  if (inner.startsWith("date^")) return formatSlackDate(inner, ctx.now);
  const [command, label] = inner.split("|");
  if (["here", "channel", "everyone"].includes(command)) {
    return `<span class="mention broadcast">@${command}</span>`;
  }
  if (command.startsWith("subteam^")) {
    const name = label ? label.replace(/^@/, "") : command.slice("subteam^".length);
    return `<span class="mention">@${literal(name)}</span>`;
  }
  return literal(label ?? `<!${inner}>`);
}

/** What the text between < and > stands for. */
function controlSequence(inner, ctx) {
  const bar = inner.indexOf("|");
  const target = bar < 0 ? inner : inner.slice(0, bar);
  const label = bar < 0 ? undefined : inner.slice(bar + 1);
  if (target.startsWith("@")) return userMention(target.slice(1), label, ctx);
  if (target.startsWith("#")) return channelMention(target.slice(1), label, ctx);
  if (target.startsWith("!")) return special(inner.slice(1), ctx);
  if (isSafeUrl(target)) {
    return linkHtml(target, literal(label ?? target.replace(/^mailto:/i, "")));
  }
  return literal(label ?? target);
}

// -- inline formatting --------------------------------------------------------------------------

const MARKS = { "*": "b", _: "i", "~": "s" };
// A mark opens after a start, a space or punctuation, and closes before an end, a space or
// punctuation: so snake_case_names and 2*3*4 stay as they are.
const BOUNDARY = /[\s.,;:!?()[\]{}"'\u2014\u2013\-\/\u00b7\u2022]/;

const isBoundary = (ch) => ch === undefined || BOUNDARY.test(ch);

/** Index of the mark closing the one at ``start``, on the same line, or -1. */
function closingMark(src, start) {
  const mark = src[start];
  if (isBoundary(src[start - 1]) === false || /\s/.test(src[start + 1] ?? " ")) return -1;
  for (let end = start + 2; end < src.length; end++) {
    if (src[end] === "\n") return -1;
    if (src[end] === mark && !/\s/.test(src[end - 1]) && isBoundary(src[end + 1])) return end;
  }
  return -1;
}

/** One line's worth of mrkdwn (no ``` blocks, no quotes) → HTML. */
function inline(src, ctx) {
  let html = "";
  let text = "";
  const flush = () => {
    html += literal(text);
    text = "";
  };
  for (let i = 0; i < src.length; ) {
    const ch = src[i];
    if (ch === "`") {
      const end = src.indexOf("`", i + 1);
      if (end > i + 1) {
        flush();
        html += `<code>${literal(src.slice(i + 1, end))}</code>`;
        i = end + 1;
        continue;
      }
    } else if (ch === "<") {
      const end = src.indexOf(">", i + 1);
      if (end > i + 1) {
        flush();
        html += controlSequence(src.slice(i + 1, end), ctx);
        i = end + 1;
        continue;
      }
    } else if (ch === ":") {
      const match = /^:([a-z0-9_+-]+):/.exec(src.slice(i));
      const picture = match && emoji(match[1]);
      if (picture) {
        flush();
        html += picture;
        i += match[0].length;
        continue;
      }
    } else if (MARKS[ch]) {
      const end = closingMark(src, i);
      if (end > 0) {
        flush();
        html += `<${MARKS[ch]}>${inline(src.slice(i + 1, end), ctx)}</${MARKS[ch]}>`;
        i = end + 1;
        continue;
      }
    }
    text += ch;
    i += 1;
  }
  flush();
  return html;
}

/** Text outside ``` blocks: lines, with "> " lines grouped into quotes. */
function paragraphs(src, ctx) {
  const out = [];
  let quote = [];
  const endQuote = () => {
    if (quote.length) out.push(`<blockquote>${quote.join("<br>")}</blockquote>`);
    quote = [];
  };
  const lines = src.split("\n");
  lines.forEach((line, index) => {
    // Slack quotes a line starting with ">", sent bare or escaped.
    const quoted = /^(?:&gt;|>)\s?(.*)$/.exec(line);
    if (quoted) {
      quote.push(inline(quoted[1], ctx));
      return;
    }
    endQuote();
    out.push(inline(line, ctx) + (index < lines.length - 1 ? "<br>" : ""));
  });
  endQuote();
  return out.join("");
}

/**
 * A mrkdwn string → HTML.
 *
 * @param {string} src the text as the bot sent it
 * @param {{users?: object, channels?: object, persona?: string, now?: Date}} ctx who is who,
 *   whose console this is (their mentions are highlighted), and "now" for Today/Yesterday.
 */
export function mrkdwn(src, ctx = {}) {
  const parts = String(src ?? "").split("```");
  // Odd parts are inside ``` fences; an unmatched fence stays literal text.
  if (parts.length % 2 === 0) parts[parts.length - 2] += "```" + parts.pop();
  return parts
    .map((part, index) =>
      index % 2 === 1
        ? `<pre>${literal(part.replace(/^\n/, ""))}</pre>`
        : paragraphs(part, ctx),
    )
    .join("");
}

/** A plain_text object's text: shown literally, emoji shortcodes aside when ``emoji`` is on. */
export function plainText(text, withEmoji = true) {
  const escaped = escapeHtml(text ?? "");
  if (!withEmoji) return escaped;
  return escaped.replace(/:([a-z0-9_+-]+):/g, (whole, name) => emoji(name) ?? whole);
}
