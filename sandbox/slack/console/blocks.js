// Block Kit → HTML, for the block types fpbot sends (and a few neighbours).
//
// Interactive elements are drawn with data attributes only (data-action-id, data-overflow,
// data-select, data-typeahead, data-input); console.js handles events for the whole page and
// finds the message or view and its element again from the store, so a redraw never loses a
// handler. Form fields show what the person entered so far (``ctx.values``), and the app's error
// under an input block (``ctx.errors``). Unknown block types are shown as a grey note rather
// than dropped, so a message that Slack would show differently gets noticed. Every function
// returns an HTML string.

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

/** The option a menu shows as chosen: the person's pick, else the element's initial option. */
function chosenOption(item, ctx) {
  const value = ctx.values?.[item.action_id];
  if (value && typeof value === "object") return value;
  const offered = optionsOf(item);
  if (value !== undefined) return offered.find((option) => option.value === value) ?? null;
  return item.initial_option ?? null;
}

/** A menu's options, option groups flattened. */
export function optionsOf(item) {
  if (item.option_groups) return item.option_groups.flatMap((group) => group.options ?? []);
  return item.options ?? [];
}

function button(item, ctx) {
  const style = item.style === "primary" || item.style === "danger" ? item.style : "";
  const busy = ctx.isPending?.(item.action_id) ?? false;
  const classes = ["bk-button", style, busy && "busy"].filter(Boolean).join(" ");
  return html`<button type="button" class="${classes}" data-action-id="${item.action_id}"
    data-block-id="${ctx.blockId ?? ""}" data-value="${item.value ?? ""}"
    ${item.confirm && raw('data-confirm="yes"')} ${busy && raw("disabled")}
    >${text(item.text)}</button>`;
}

/** ⋯ and, when open, its small menu of up to five options. */
function overflow(item, ctx) {
  // A list repeats its rows' menus under one action_id: the block tells them apart.
  const open = ctx.openMenu === `${ctx.blockId ?? ""}/${item.action_id}`;
  const menu =
    open &&
    html`<div class="bk-menu" role="menu">${(item.options ?? []).map(
      (option) => html`<button type="button" class="bk-menu-item" role="menuitem"
        data-overflow-option="${option.value}" data-menu-of="${item.action_id}"
        >${text(option.text)}</button>`,
    )}</div>`;
  return html`<span class="bk-overflow${open ? " open" : ""}"><button type="button"
    class="bk-overflow-button" data-overflow="${item.action_id}"
    data-block-id="${ctx.blockId ?? ""}" aria-haspopup="menu"
    aria-expanded="${String(open)}" title="More actions">⋯</button>${menu}</span>`;
}

function selectOption(option, chosen) {
  const selected = chosen?.value === option.value ? raw(" selected") : "";
  return html`<option value="${option.value}"${selected}>${option.text?.text ?? option.value}</option>`;
}

/** A static select as the browser's own menu (groups as optgroups). */
function staticSelect(item, ctx) {
  const chosen = chosenOption(item, ctx);
  const placeholder = item.placeholder?.text ?? "Select an item";
  const groups = item.option_groups
    ? item.option_groups.map(
        (group) => html`<optgroup label="${group.label?.text ?? ""}">${(group.options ?? []).map(
          (option) => selectOption(option, chosen),
        )}</optgroup>`,
      )
    : (item.options ?? []).map((option) => selectOption(option, chosen));
  return html`<select class="bk-select" data-select="${item.action_id}">
    <option value="" disabled${chosen ? "" : raw(" selected")}>${placeholder}</option>${groups}
  </select>`;
}

/** An external select: a text box whose options come from the app as the person types. */
function externalSelect(item, ctx) {
  const chosen = chosenOption(item, ctx);
  const least = item.min_query_length ?? 3;
  return html`<span class="bk-typeahead" data-typeahead="${item.action_id}"
      data-min-query-length="${least}">
    <input type="text" class="bk-field-input" autocomplete="off"
      placeholder="${item.placeholder?.text ?? "Type to search"}"
      value="${chosen?.text?.text ?? ""}" data-chosen="${chosen?.value ?? ""}">
    <div class="typeahead-list hidden" role="listbox"></div></span>`;
}

function textInput(item, ctx) {
  const value = ctx.values?.[item.action_id] ?? item.initial_value ?? "";
  const placeholder = item.placeholder?.text ?? "";
  const limits = [
    item.max_length && raw(` maxlength="${Number(item.max_length)}"`),
    item.min_length && raw(` minlength="${Number(item.min_length)}"`),
  ];
  if (item.multiline) {
    return html`<textarea class="bk-field-input" rows="4" data-input="${item.action_id}"
      placeholder="${placeholder}"${limits}>${value}</textarea>`;
  }
  return html`<input type="text" class="bk-field-input" data-input="${item.action_id}"
    placeholder="${placeholder}" value="${value}"${limits}>`;
}

const ELEMENTS = {
  button,
  overflow,
  static_select: staticSelect,
  external_select: externalSelect,
  plain_text_input: textInput,
};

/** An interactive element; kinds the console does not simulate are shown as a note. */
function element(item, ctx) {
  const draw = ELEMENTS[item.type];
  if (!draw) return html`<span class="bk-unsupported">[${item.type} element: not simulated]</span>`;
  return draw(item, ctx);
}

/** An input block: label, field, hint, and the app's error for it (response_action: errors). */
function input(block, ctx) {
  const error = ctx.errors?.[block.block_id];
  const optional = block.optional && raw('<span class="bk-optional">(optional)</span>');
  return html`<div class="bk-input${error ? " has-error" : ""}" data-block-id="${block.block_id}">
    <label class="bk-label">${text(block.label)} ${optional}</label>
    ${block.element && element(block.element, ctx)}
    ${error && html`<div class="bk-error" role="alert">${error}</div>`}
    ${block.hint && html`<div class="bk-hint">${text(block.hint)}</div>`}</div>`;
}

const RENDERERS = {
  header,
  section,
  context,
  actions,
  image,
  input,
  divider: () => raw('<hr class="bk-divider">'),
};

/**
 * Blocks → HTML. ``ctx`` carries users, channels, persona, now, isPending(action_id), and for
 * interactive surfaces openMenu (the open overflow's "block_id/action_id"), values (form drafts)
 * and errors. Each block's elements also get ``blockId``.
 */
export function renderBlocks(blocks, ctx) {
  return String(
    html`${(blocks ?? []).map((block) => {
      const render = RENDERERS[block?.type];
      if (render) return render(block, { ...ctx, blockId: block.block_id ?? "" });
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

/** The element ``action_id`` in a message or view (actions, section accessories, inputs). */
export function findButton(message, actionId, blockId = null) {
  for (const block of message.blocks ?? []) {
    if (blockId && block.block_id !== blockId) continue;
    const candidates = block.type === "actions" ? [...(block.elements ?? [])] : [];
    if (block.accessory) candidates.push(block.accessory);
    if (block.type === "input" && block.element) candidates.push(block.element);
    const found = candidates.find((item) => item.action_id === actionId);
    if (found) return { ...found, block };
  }
  return blockId ? findButton(message, actionId) : null;
}
