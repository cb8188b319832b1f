// Emoji shortcodes → what the console shows.
//
// Slack draws emoji as images, not font glyphs, and the machines the sandbox runs on often have
// no colour emoji font (Debian's Chromium draws tofu boxes). So the shortcodes fpbot uses are
// small inline SVGs, drawn here; any other known shortcode falls back to its Unicode character.

// Each picture is the inside of a 20×20 SVG; `emoji` wraps it.
const svg = (body) => body;

/** Shortcodes fpbot's messages use, as pictures. */
const PICTURES = {
  white_check_mark: svg(
    '<rect x="1" y="1" width="18" height="18" rx="4" fill="#4caf50"/>' +
      '<path d="M5 10.5l3.2 3.2L15 6.8" fill="none" stroke="#fff" stroke-width="2.6" ' +
      'stroke-linecap="round" stroke-linejoin="round"/>',
  ),
  heavy_check_mark: svg(
    '<path d="M3.5 10.5l4.5 4.5L16.5 5" fill="none" stroke="#31373d" stroke-width="3" ' +
      'stroke-linecap="round" stroke-linejoin="round"/>',
  ),
  x: svg(
    '<path d="M4 4l12 12M16 4L4 16" stroke="#dd2e44" stroke-width="3.6" stroke-linecap="round"/>',
  ),
  no_entry: svg(
    '<circle cx="10" cy="10" r="9" fill="#dd2e44"/>' +
      '<rect x="4" y="8.3" width="12" height="3.4" rx="1" fill="#fff"/>',
  ),
  no_entry_sign: svg(
    '<circle cx="10" cy="10" r="7.6" fill="none" stroke="#dd2e44" stroke-width="2.6"/>' +
      '<path d="M4.8 4.8l10.4 10.4" stroke="#dd2e44" stroke-width="2.6"/>',
  ),
  warning: svg(
    '<path d="M10 1.8L19 17.6H1z" fill="#ffcc4d" stroke="#e6a800" stroke-width="0.8" ' +
      'stroke-linejoin="round"/>' +
      '<rect x="9" y="6.5" width="2" height="6.2" rx="1" fill="#31373d"/>' +
      '<circle cx="10" cy="15" r="1.2" fill="#31373d"/>',
  ),
  information_source: svg(
    '<rect x="1" y="1" width="18" height="18" rx="4" fill="#3b88c3"/>' +
      '<circle cx="10" cy="5.6" r="1.6" fill="#fff"/>' +
      '<rect x="8.6" y="8.4" width="2.8" height="7.4" rx="1" fill="#fff"/>',
  ),
  hourglass: svg(
    '<rect x="3.5" y="1.5" width="13" height="2.2" rx="1" fill="#8a5a2b"/>' +
      '<rect x="3.5" y="16.3" width="13" height="2.2" rx="1" fill="#8a5a2b"/>' +
      '<path d="M5 3.7h10c0 4-4 5-4 6.3s4 2.3 4 6.3H5c0-4 4-5 4-6.3S5 7.7 5 3.7z" ' +
      'fill="#ccd6dd"/><path d="M6.5 16.3c.5-2.6 3.5-3.3 3.5-4.8 0 1.5 3 2.2 3.5 4.8z" ' +
      'fill="#ffac33"/>',
  ),
  hourglass_flowing_sand: svg(
    '<rect x="3.5" y="1.5" width="13" height="2.2" rx="1" fill="#8a5a2b"/>' +
      '<rect x="3.5" y="16.3" width="13" height="2.2" rx="1" fill="#8a5a2b"/>' +
      '<path d="M5 3.7h10c0 4-4 5-4 6.3s4 2.3 4 6.3H5c0-4 4-5 4-6.3S5 7.7 5 3.7z" ' +
      'fill="#ccd6dd"/><path d="M6.6 5.5h6.8c-.6 1.8-3.4 2.6-3.4 4.5 0-1.9-2.8-2.7-3.4-4.5z' +
      'M7 16.3c.6-1.6 2.4-2.2 3-3.3.6 1.1 2.4 1.7 3 3.3z" fill="#ffac33"/>' +
      '<path d="M10 10v3" stroke="#ffac33" stroke-width="0.8"/>',
  ),
  gear: svg(
    '<circle cx="10" cy="10" r="6.3" fill="none" stroke="#8899a6" stroke-width="3.4" ' +
      'stroke-dasharray="2.6 2.35"/>' +
      '<circle cx="10" cy="10" r="5" fill="#8899a6"/><circle cx="10" cy="10" r="2.2" fill="#fff"/>',
  ),
  rotating_light: svg(
    '<path d="M4.5 14V10a5.5 5.5 0 0 1 11 0v4z" fill="#dd2e44"/>' +
      '<rect x="2.5" y="14" width="15" height="4" rx="1.2" fill="#66757f"/>' +
      '<path d="M7.5 9.5a2.5 2.5 0 0 1 2.5-2.5" stroke="#fff" stroke-width="1.3" fill="none" ' +
      'stroke-linecap="round"/>',
  ),
  repeat: svg(
    '<rect x="1" y="1" width="18" height="18" rx="4" fill="#3b88c3"/>' +
      '<path d="M5 9V7.5h8.5M11.5 5.2l2.3 2.3-2.3 2.3M15 11v1.5H6.5M8.5 14.8l-2.3-2.3 2.3-2.3" ' +
      'fill="none" stroke="#fff" stroke-width="1.7" stroke-linecap="round" ' +
      'stroke-linejoin="round"/>',
  ),
  key: svg(
    '<circle cx="6" cy="10" r="4.2" fill="none" stroke="#f4900c" stroke-width="2.6"/>' +
      '<path d="M10 10h8.5M15.5 10v3.4M18 10v2.4" stroke="#f4900c" stroke-width="2.6" ' +
      'stroke-linecap="round"/>',
  ),
  inbox_tray: svg(
    '<path d="M2 11.5l2.5-5h11l2.5 5V17a1 1 0 0 1-1 1H3a1 1 0 0 1-1-1z" fill="#bdc9d1"/>' +
      '<path d="M2 11.5h4.5l1 2h5l1-2H18V17a1 1 0 0 1-1 1H3a1 1 0 0 1-1-1z" fill="#8899a6"/>' +
      '<path d="M10 1.5v7M7 6l3 3 3-3" fill="none" stroke="#3b88c3" stroke-width="2" ' +
      'stroke-linecap="round" stroke-linejoin="round"/>',
  ),
  bust_in_silhouette: svg(
    '<circle cx="10" cy="6.5" r="4" fill="#66757f"/>' +
      '<path d="M2.5 19c0-5 3.4-7.5 7.5-7.5s7.5 2.5 7.5 7.5z" fill="#66757f"/>',
  ),
  lock: svg(
    '<path d="M6 9V6.5a4 4 0 0 1 8 0V9" fill="none" stroke="#aab8c2" stroke-width="2.2"/>' +
      '<rect x="3.5" y="8.5" width="13" height="10" rx="2" fill="#ffac33"/>',
  ),
  large_green_circle: svg('<circle cx="10" cy="10" r="8.5" fill="#78b159"/>'),
  red_circle: svg('<circle cx="10" cy="10" r="8.5" fill="#dd2e44"/>'),
  large_yellow_circle: svg('<circle cx="10" cy="10" r="8.5" fill="#fdcb58"/>'),
};

/** Other common shortcodes, as Unicode (shown as the font allows). */
const CHARACTERS = {
  tada: "🎉",
  eyes: "👀",
  wave: "👋",
  thumbsup: "👍",
  "+1": "👍",
  "-1": "👎",
  point_right: "👉",
  rocket: "🚀",
  fire: "🔥",
  memo: "📝",
  clock1: "🕐",
  stopwatch: "⏱",
  heavy_plus_sign: "➕",
  heavy_minus_sign: "➖",
  pencil2: "✏",
  wastebasket: "🗑",
  arrow_right: "➡",
  bell: "🔔",
  zap: "⚡",
  white_circle: "⚪",
  black_circle: "⚫",
};

/** The HTML for ``:name:``, or null when the shortcode is unknown (then it stays text). */
export function emoji(name) {
  if (Object.hasOwn(PICTURES, name)) {
    return (
      `<svg class="emoji" viewBox="0 0 20 20" role="img" aria-label=":${name}:">` +
      `<title>:${name}:</title>${PICTURES[name]}</svg>`
    );
  }
  if (Object.hasOwn(CHARACTERS, name)) {
    return `<span class="emoji-char" title=":${name}:">${CHARACTERS[name]}</span>`;
  }
  return null;
}
