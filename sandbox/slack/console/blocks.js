// Block Kit → HTML, for the block types fpbot sends (and a few neighbours).
//
// Buttons are drawn with data attributes only (data-action-id); console.js handles clicks for the
// whole page and finds the message and its button again from the store, so a redraw never loses
// a handler. Unknown block types are shown as a grey note rather than dropped, so a message that
// Slack would show differently gets noticed. Every function returns an HTML string.

import { html, raw } from "./html.js";
import { mrkdwn, plainText } from "./mrkdwn.js";

/** A text object (mrkdwn or plain_text) → HTML. */
export function textObject(object, ctx) {
  if (!object) return "";
  if (object.type === "plain_text") return plainText(object.text, object.emoji !== false);
  return mrkdwn(object.text, ctx);
}

const text = (object, ctx) => raw(textObject(object, ctx));

function header(block) {
  return html`<div class="bk-header">${text(block.text)}</div>`;
}

function section(block, ctx) {
  const fields = block.fields ?? [];
  const accessory =
    block.accessory && html`<div class="bk-accessory">${element(block.accessory, ctx)}</div>`;
  return html`<div class="bk-section"><div class="bk-section-main">
    ${block.text && html`<div class="bk-text">${text(block.text, ctx)}</div>`}
    ${fields.length > 0 &&
    html`<div class="bk-fields">${fields.map(
      (field) => html`<div class="bk-field">${text(field, ctx)}</div>`,
    )}</div>`}
    </div>${accessory}
  </div>`;
}

function context(block, ctx) {
  const items = (block.elements ?? []).map((item) =>
    item.type === "image"
      ? html`<img class="bk-context-image" src="${item.image_url}" alt="${item.alt_text ?? ""}">`
      : html`<span class="bk-context-text">${text(item, ctx)}</span>`,
  );
  return html`<div class="bk-context">${items}</div>`;
}

function actions(block, ctx) {
  const items = (block.elements ?? []).map((item) => element(item, ctx));
  return html`<div class="bk-actions">${items}</div>`;
}

function image(block) {
  return html`<div class="bk-image">
    ${block.title && html`<div class="bk-image-title">${text(block.title)}</div>`}
    <img src="${block.image_url}" alt="${block.alt_text ?? ""}"></div>`;
}

/** An interactive element: buttons are live; other kinds are shown but not simulated. */
function element(item, ctx) {
  if (item.type !== "button") {
    return html`<span class="bk-unsupported">[${item.type} element: not simulated]</span>`;
  }
  const style = item.style === "primary" || item.style === "danger" ? item.style : "";
  const busy = ctx.isPending?.(item.action_id) ?? false;
  const classes = ["bk-button", style, busy && "busy"].filter(Boolean).join(" ");
  return html`<button type="button" class="${classes}" data-action-id="${item.action_id}"
    ${item.confirm && raw('data-confirm="yes"')} ${busy && raw("disabled")}
    >${text(item.text)}</button>`;
}

const RENDERERS = {
  header,
  section,
  context,
  actions,
  image,
  divider: () => raw('<hr class="bk-divider">'),
};

/** Blocks → HTML. ``ctx`` carries users, channels, persona, now, and isPending(action_id). */
export function renderBlocks(blocks, ctx) {
  return String(
    html`${(blocks ?? []).map((block) => {
      const render = RENDERERS[block?.type];
      if (render) return render(block, ctx);
      const note = `[${block?.type} block: not drawn by the console]`;
      return html`<div class="bk-unsupported">${note}</div>`;
    })}`,
  );
}

const ATTACHMENT_COLORS = { good: "#2eb67d", warning: "#ecb22e", danger: "#e01e5a" };

function attachmentColor(color) {
  if (/^#?[0-9a-f]{3,8}$/i.test(color ?? "")) return color.startsWith("#") ? color : `#${color}`;
  return ATTACHMENT_COLORS[color] ?? "#dddddd";
}

/** Legacy attachments: a coloured bar with text, fields and blocks. */
export function renderAttachments(attachments, ctx) {
  const one = (att) => html`<div class="attachment"
      style="border-left-color:${attachmentColor(att.color)}">
    ${att.pretext && html`<div class="att-pretext">${raw(mrkdwn(att.pretext, ctx))}</div>`}
    ${att.title && html`<div class="att-title">${att.title}</div>`}
    ${att.text && html`<div class="att-text">${raw(mrkdwn(att.text, ctx))}</div>`}
    ${(att.fields ?? []).map(
      (f) =>
        html`<div class="bk-field"><b>${f.title ?? ""}</b><br>${raw(mrkdwn(f.value, ctx))}</div>`,
    )}
    ${raw(renderBlocks(att.blocks, ctx))}</div>`;
  return String(html`${(attachments ?? []).map(one)}`);
}

/** A whole message body: blocks when there are any, else its text as mrkdwn; then attachments. */
export function renderMessageBody(message, ctx) {
  const main = message.blocks?.length
    ? renderBlocks(message.blocks, ctx)
    : `<div class="bk-text">${mrkdwn(message.text, ctx)}</div>`;
  return main + renderAttachments(message.attachments, ctx);
}

/** The button ``action_id`` in ``message`` (actions blocks and section accessories). */
export function findButton(message, actionId) {
  for (const block of message.blocks ?? []) {
    const candidates = block.type === "actions" ? [...(block.elements ?? [])] : [];
    if (block.accessory) candidates.push(block.accessory);
    const found = candidates.find((item) => item.action_id === actionId);
    if (found) return found;
  }
  return null;
}
