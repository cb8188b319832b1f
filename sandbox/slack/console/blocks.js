// Block Kit → HTML, for the block types fpbot sends (and a few neighbours).
//
// Buttons are drawn with data attributes only (data-action-id); console.js handles clicks for the
// whole page and finds the message and its button again from the store, so a re-render never
// loses a handler. Unknown block types are shown as a grey note rather than dropped, so a message
// that Slack would show differently is noticed.

import { escapeHtml, mrkdwn, plainText } from "./mrkdwn.js";

/** A text object (mrkdwn or plain_text) → HTML. */
export function textObject(object, ctx) {
  if (!object) return "";
  if (object.type === "plain_text") return plainText(object.text, object.emoji !== false);
  // mrkdwn with verbatim: true skips auto-linking only; formatting still applies.
  return mrkdwn(object.text, ctx);
}

function header(block) {
  return `<div class="bk-header">${plainText(block.text?.text, block.text?.emoji !== false)}</div>`;
}

function section(block, ctx) {
  const text = block.text ? `<div class="bk-text">${textObject(block.text, ctx)}</div>` : "";
  const fields = (block.fields ?? [])
    .map((field) => `<div class="bk-field">${textObject(field, ctx)}</div>`)
    .join("");
  const grid = fields ? `<div class="bk-fields">${fields}</div>` : "";
  const accessory = block.accessory ? `<div class="bk-accessory">${element(block.accessory, ctx)}</div>` : "";
  return `<div class="bk-section"><div class="bk-section-main">${text}${grid}</div>${accessory}</div>`;
}

function context(block, ctx) {
  const items = (block.elements ?? []).map((item) =>
    item.type === "image"
      ? `<img class="bk-context-image" src="${escapeHtml(item.image_url)}" alt="${escapeHtml(item.alt_text ?? "")}">`
      : `<span class="bk-context-text">${textObject(item, ctx)}</span>`,
  );
  return `<div class="bk-context">${items.join("")}</div>`;
}

function actions(block, ctx) {
  const items = (block.elements ?? []).map((item) => element(item, ctx)).join("");
  return `<div class="bk-actions">${items}</div>`;
}

function image(block) {
  const title = block.title ? `<div class="bk-image-title">${plainText(block.title.text)}</div>` : "";
  return `<div class="bk-image">${title}<img src="${escapeHtml(block.image_url)}" alt="${escapeHtml(block.alt_text ?? "")}"></div>`;
}

/** An interactive element: buttons are live; other kinds are shown but not simulated. */
function element(item, ctx) {
  if (item.type !== "button") {
    return `<span class="bk-unsupported">[${escapeHtml(item.type)} element: not simulated]</span>`;
  }
  const style = item.style === "primary" || item.style === "danger" ? ` ${item.style}` : "";
  const busy = ctx.isPending?.(item.action_id) ?? false;
  const confirm = item.confirm ? ' data-confirm="yes"' : "";
  return (
    `<button type="button" class="bk-button${style}${busy ? " busy" : ""}"` +
    ` data-action-id="${escapeHtml(item.action_id)}"${confirm}${busy ? " disabled" : ""}>` +
    `${plainText(item.text?.text, item.text?.emoji !== false)}</button>`
  );
}

const RENDERERS = {
  header,
  section,
  context,
  actions,
  image,
  divider: () => '<hr class="bk-divider">',
};

/** Blocks → HTML. ``ctx`` carries users, channels, persona, now, and isPending(action_id). */
export function renderBlocks(blocks, ctx) {
  return (blocks ?? [])
    .map((block) => {
      const render = RENDERERS[block?.type];
      if (render) return render(block, ctx);
      return `<div class="bk-unsupported">[${escapeHtml(block?.type)} block: not rendered by the console]</div>`;
    })
    .join("");
}

/** Legacy attachments: a coloured bar with text, fields and blocks. */
export function renderAttachments(attachments, ctx) {
  return (attachments ?? [])
    .map((att) => {
      const color = /^#?[0-9a-f]{3,8}$/i.test(att.color ?? "")
        ? (att.color.startsWith("#") ? att.color : `#${att.color}`)
        : { good: "#2eb67d", warning: "#ecb22e", danger: "#e01e5a" }[att.color] ?? "#dddddd";
      const parts = [
        att.pretext ? `<div class="att-pretext">${mrkdwn(att.pretext, ctx)}</div>` : "",
        att.title ? `<div class="att-title">${escapeHtml(att.title)}</div>` : "",
        att.text ? `<div class="att-text">${mrkdwn(att.text, ctx)}</div>` : "",
        (att.fields ?? [])
          .map((f) => `<div class="bk-field"><b>${escapeHtml(f.title ?? "")}</b><br>${mrkdwn(f.value ?? "", ctx)}</div>`)
          .join(""),
        renderBlocks(att.blocks, ctx),
      ];
      return `<div class="attachment" style="border-left-color:${escapeHtml(color)}">${parts.join("")}</div>`;
    })
    .join("");
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
