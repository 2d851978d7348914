// A small element builder, so that pages read as the markup they make.

// Attributes set as DOM properties rather than as markup attributes.
const PROPERTIES = new Set(['value', 'checked', 'selected', 'disabled', 'hidden', 'textContent']);

/**
 * h('button', {type: 'button', class: 'primary', onclick: save}, 'Save'):
 * `on*` functions become listeners; false, null and undefined attributes are left out;
 * children may be strings, elements, arrays of them, or null.
 */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      element.addEventListener(name.slice(2), value);
    } else if (name === 'class') {
      element.className = value;
    } else if (PROPERTIES.has(name)) {
      element[name] = value;
    } else {
      element.setAttribute(name, value === true ? '' : String(value));
    }
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(element, child);
    else element.append(child instanceof Node ? child : String(child));
  }
}

/** Replaces every child of `element`. */
export function replaceChildren(element, ...children) {
  element.replaceChildren();
  append(element, children);
}

/** Says `message` through the page's polite live region (screen readers read it out). */
export function announce(message, regionId = 'announcer') {
  const region = document.getElementById(regionId);
  if (!region) return;
  region.textContent = '';
  // A new text node in a later task is announced even when the text repeats.
  setTimeout(() => { region.textContent = message; }, 50);
}

/** Says a field's new problem as it is typed, through a live region that is not shown. */
export function announceFieldProblem(message) {
  announce(message, 'field-announcer');
}

/** "reconnectAttempts" → "Reconnect attempts": a label for a property without a title. */
export function humanize(name) {
  const words = String(name).replace(/([a-z0-9])([A-Z])/g, '$1 $2').replace(/[_-]+/g, ' ').toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}
