// Document paths, written as the server writes them (DocumentPath in SluiceCore):
// `endpointGroups[0].sharedConfiguration.security.protocol`. A path is kept as an array of
// components: strings for object keys, numbers for array indexes.

// Keys the server writes bare: letters, digits, `_`, `-` and `$`; any other key is quoted.
const PLAIN_KEY = /^[\p{L}0-9_$-]+$/u;

/** The text of a path; '' for the root (the server writes "(root)"). */
export function formatPath(components) {
  let text = '';
  for (const component of components) {
    if (typeof component === 'number') {
      text += `[${component}]`;
    } else if (PLAIN_KEY.test(component)) {
      text += (text ? '.' : '') + component;
    } else {
      text += `["${component.replaceAll('"', '\\"')}"]`;
    }
  }
  return text;
}

/** The components of a path's text (the inverse of formatPath). */
export function parsePath(text) {
  const components = [];
  if (!text || text === '(root)') return components;
  let i = 0;
  while (i < text.length) {
    const character = text[i];
    if (character === '.') {
      i += 1;
    } else if (character === '[' && text[i + 1] === '"') {
      let key = '';
      let j = i + 2;
      while (j < text.length && text[j] !== '"') {
        if (text[j] === '\\' && j + 1 < text.length) j += 1;
        key += text[j];
        j += 1;
      }
      components.push(key);
      i = j + 2; // past `"]`
    } else if (character === '[') {
      const end = text.indexOf(']', i);
      components.push(Number(text.slice(i + 1, end < 0 ? text.length : end)));
      i = end < 0 ? text.length : end + 1;
    } else {
      let j = i;
      while (j < text.length && text[j] !== '.' && text[j] !== '[') j += 1;
      components.push(text.slice(i, j));
      i = j;
    }
  }
  return components;
}

/** Whether `path` is `prefix` or lies below it. */
export function hasPrefix(path, prefix) {
  return prefix.length <= path.length && prefix.every((component, index) => path[index] === component);
}

/** The value at `path` inside `value`, or undefined. */
export function valueAt(value, path) {
  let current = value;
  for (const component of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = current[component];
  }
  return current;
}
