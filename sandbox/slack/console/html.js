// A tagged template for building HTML safely: html`<b>${name}</b>` escapes every interpolated
// value, unless it is itself the result of html`…` or raw(…) (HTML that is already safe, such as
// what mrkdwn.js and blocks.js return). Arrays are joined; null, undefined and false vanish.

import { escapeHtml } from "./mrkdwn.js";

class SafeHtml {
  constructor(text) {
    this.text = text;
  }

  toString() {
    return this.text;
  }
}

/** Mark a string as safe HTML. Only for output of the console's own renderers. */
export const raw = (text) => new SafeHtml(String(text));

function piece(value) {
  if (value instanceof SafeHtml) return value.text;
  if (Array.isArray(value)) return value.map(piece).join("");
  if (value === null || value === undefined || value === false) return "";
  return escapeHtml(value);
}

export function html(strings, ...values) {
  let out = strings[0];
  values.forEach((value, index) => {
    out += piece(value) + strings[index + 1];
  });
  return new SafeHtml(out);
}
