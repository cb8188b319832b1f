// What a person does in the app's forms, menus and Home tab: typing in a modal, choosing from a
// select or an overflow menu, an external select's typeahead, submitting or closing a modal,
// clicking a button in a view, opening the App Home, running a global shortcut.
//
// Form fields keep what was entered in `ui.drafts` (by message key or view id, then action_id);
// every view action sends them along, as Slack sends a view's state with each interaction. The
// fake Slack decides what happens next (the app's answer to a submission, a view pushed…), and
// the page follows through the live feed.

import { api } from "./api.js";
import { findButton, textObject } from "./blocks.js";
import { html } from "./html.js";
import { homeView, modalStack, store, ui } from "./state.js";
import { render } from "./view.js";

/** Slack waits this long after the last keystroke before asking the app for options. */
const SUGGEST_DELAY_MS = 250;
const DEFAULT_MIN_QUERY_LENGTH = 3;

let confirmDialog = async () => true;
let report = () => {};

/**
 * The message or view an element sits in, from the DOM: ``{key, view?, message?, blocks}``;
 * ``key`` is the view id or the message's "channel/ts".
 */
function surfaceOf(element) {
  const holder = element.closest("[data-view-id]");
  if (holder) {
    const view = [...modalStack(), homeView()].find((v) => v?.id === holder.dataset.viewId);
    return view ? { key: view.id, view, blocks: view.view.blocks } : null;
  }
  const article = element.closest(".msg");
  const key = article && `${article.dataset.channel}/${article.dataset.ts}`;
  const message = key && store.messages.get(key);
  return message ? { key, message, blocks: message.blocks } : null;
}

const draftsOf = (key) => {
  ui.drafts[key] ??= {};
  return ui.drafts[key];
};

/** Whether choosing in this element tells the app: not inside a form's input block (unless the
 * block dispatches its actions), always elsewhere. */
function dispatches(surface, actionId) {
  const found = findButton({ blocks: surface.blocks }, actionId);
  return found?.block.type !== "input" || Boolean(found.block.dispatch_action);
}

/** Send a choice to the app through the fake: on a message, or in a view with its form. */
async function sendChoice(surface, actionId, value) {
  if (surface.view && !dispatches(surface, actionId)) return;
  const pending = `${surface.key}/${actionId}`;
  ui.pending.add(pending);
  render();
  const answer = surface.view
    ? await api.viewChoose(ui.persona, surface.key, actionId, value, draftsOf(surface.key))
    : await api.choose(ui.persona, surface.message.channel, surface.message.ts, actionId, value);
  ui.pending.delete(pending);
  render();
  report(answer, "Your choice");
}

// -- menus ------------------------------------------------------------------------------------

function toggleOverflow(button) {
  const surface = surfaceOf(button);
  if (!surface) return;
  const key = `${surface.key}/${button.dataset.blockId ?? ""}/${button.dataset.overflow}`;
  ui.openMenu = ui.openMenu === key ? null : key;
  render();
}

function chooseFromOverflow(item) {
  const surface = surfaceOf(item);
  ui.openMenu = null;
  render();
  if (surface) sendChoice(surface, item.dataset.menuOf, item.dataset.overflowOption);
}

function onSelect(select) {
  const surface = surfaceOf(select);
  if (!surface) return;
  draftsOf(surface.key)[select.dataset.select] = select.value;
  sendChoice(surface, select.dataset.select, select.value);
}

// -- the typeahead of an external select --------------------------------------------------------

const timers = new WeakMap();

function minQueryLength(box) {
  const least = Number(box.dataset.minQueryLength);
  return Number.isFinite(least) ? least : DEFAULT_MIN_QUERY_LENGTH;
}

function scheduleSuggestions(input, delay = SUGGEST_DELAY_MS) {
  const box = input.closest("[data-typeahead]");
  clearTimeout(timers.get(box));
  if (input.value.length < minQueryLength(box)) {
    box.querySelector(".typeahead-list").classList.add("hidden");
    return;
  }
  timers.set(
    box,
    setTimeout(() => suggest(box, input.value), delay),
  );
}

async function suggest(box, typed) {
  const surface = surfaceOf(box);
  if (!surface) return;
  const list = box.querySelector(".typeahead-list");
  const where = surface.view
    ? { view_id: surface.key }
    : { channel: surface.message.channel, ts: surface.message.ts };
  list.innerHTML = '<div class="typeahead-note"><span class="spinner"></span>Searching…</div>';
  list.classList.remove("hidden");
  const actionId = box.dataset.typeahead;
  const answer = await api.suggest(ui.persona, where, actionId, typed, draftsOf(surface.key));
  if (box.querySelector("input").value !== typed) return; // typed on meanwhile: a newer ask
  const groups = answer.option_groups ?? [{ options: answer.options ?? [] }];
  const offered = groups.flatMap((group) => group.options ?? []);
  box.offered = offered;
  let index = -1;
  const entry = (option) => {
    index += 1;
    return html`<div class="typeahead-option" role="option" data-suggestion="${index}">
      <span>${option.text?.text ?? option.value}</span>
      ${option.description && html`<span class="option-description">${option.description.text}</span>`}
    </div>`;
  };
  list.innerHTML = answer.ok
    ? html`${groups.map(
        (group) => html`${group.label && html`<div class="typeahead-group">${group.label.text}</div>`}
          ${(group.options ?? []).map(entry)}`,
      )}${offered.length === 0 && html`<div class="typeahead-note">No results</div>`}`
    : html`<div class="typeahead-note bad">${answer.error}</div>`;
}

function pickSuggestion(item) {
  const box = item.closest("[data-typeahead]");
  const option = box.offered?.[Number(item.dataset.suggestion)];
  const surface = surfaceOf(box);
  if (!option || !surface) return;
  const input = box.querySelector("input");
  input.value = option.text?.text ?? option.value;
  input.dataset.chosen = option.value;
  box.querySelector(".typeahead-list").classList.add("hidden");
  draftsOf(surface.key)[box.dataset.typeahead] = option;
  sendChoice(surface, box.dataset.typeahead, option.value);
}

// -- modals and the Home tab ------------------------------------------------------------------

const topView = () => modalStack().at(-1);

async function submitModal() {
  const top = topView();
  if (!top) return;
  const pending = `${top.id}/submit`;
  ui.pending.add(pending);
  render();
  const answer = await api.submit(ui.persona, top.id, draftsOf(top.id));
  ui.pending.delete(pending);
  if (answer.errors) ui.refused[top.id] = answer.errors;
  else delete ui.refused[top.id];
  render();
  if (!answer.errors) report(answer, "Your submission");
}

async function closeModal() {
  const top = topView();
  if (!top) return;
  const answer = await api.closeView(ui.persona, top.id);
  report(answer, "Closing the form");
}

async function clickInView(button) {
  const surface = surfaceOf(button);
  const actionId = button.dataset.actionId;
  const element = surface && findButton({ blocks: surface.blocks }, actionId, button.dataset.blockId);
  if (!element) return;
  if (element.confirm && !(await confirmDialog(element.confirm))) return;
  const pending = `${surface.key}/${actionId}`;
  ui.pending.add(pending);
  render();
  const drafts = draftsOf(surface.key);
  const answer = await api.viewClick(ui.persona, surface.key, actionId, drafts, element.value);
  ui.pending.delete(pending);
  render();
  report(answer, `Your click on “${element.text ? textObject(element.text) : actionId}”`);
}

function openTab(tab) {
  ui.tab = tab;
  render();
  // Slack tells the app each time the Home tab is opened; the app (re)publishes it.
  if (tab === "home") api.home(ui.persona).then((answer) => report(answer, "Opening the Home tab"));
}

// -- shortcuts ----------------------------------------------------------------------------------

export function closeShortcutMenu() {
  document.getElementById("shortcut-menu").classList.add("hidden");
  document.getElementById("shortcuts-button").setAttribute("aria-expanded", "false");
}

function toggleShortcutMenu() {
  const menu = document.getElementById("shortcut-menu");
  menu.classList.toggle("hidden");
  const open = !menu.classList.contains("hidden");
  document.getElementById("shortcuts-button").setAttribute("aria-expanded", String(open));
}

async function runShortcut(item) {
  closeShortcutMenu();
  const answer = await api.shortcut(ui.persona, item.dataset.shortcut);
  report(answer, "The shortcut");
}

/** Clicks this module handles, for console.js's page-wide click table (first match wins). */
export const FORM_CLICKS = [
  ["[data-modal-submit]:not(:disabled)", submitModal],
  ["[data-modal-close]", closeModal],
  ["[data-view-id] .bk-button:not(:disabled)", clickInView],
  ["[data-overflow]", toggleOverflow],
  ["[data-overflow-option]", chooseFromOverflow],
  ["[data-suggestion]", pickSuggestion],
  ["[data-tab]", (el) => openTab(el.dataset.tab)],
  ["#shortcuts-button", toggleShortcutMenu],
  ["[data-shortcut]", runShortcut],
];

/**
 * Wire the form fields. ``confirm(confirmObject)`` shows a Block Kit confirmation and resolves
 * to true when confirmed; ``onAnswer(answer, what)`` tells the person when the app failed.
 */
export function mountForms({ confirm, onAnswer }) {
  confirmDialog = confirm;
  report = onAnswer;
  document.addEventListener("input", (event) => {
    const field = event.target.closest("[data-input]");
    if (field) {
      const surface = surfaceOf(field);
      if (surface) draftsOf(surface.key)[field.dataset.input] = field.value;
    } else if (event.target.closest("[data-typeahead] input")) {
      scheduleSuggestions(event.target);
    }
  });
  document.addEventListener("change", (event) => {
    const select = event.target.closest("select[data-select]");
    if (select) onSelect(select);
  });
  document.addEventListener("focusin", (event) => {
    const input = event.target.closest("[data-typeahead] input");
    if (input && minQueryLength(input.closest("[data-typeahead]")) === 0) {
      scheduleSuggestions(input, 0);
    }
  });
  document.addEventListener("focusout", (event) => {
    const box = event.target.closest("[data-typeahead]");
    // After a click on an option has landed (mousedown → click), hide the list.
    if (box) setTimeout(() => box.querySelector(".typeahead-list")?.classList.add("hidden"), 200);
  });
  // Escape closes the top view, as in Slack (not the whole dialog at once).
  document.getElementById("modal").addEventListener("cancel", (event) => {
    event.preventDefault();
    closeModal();
  });
}
