// A form drawn from a JSON Schema: one mechanism for every connector (no code per endpoint or
// entrypoint type). See schema.js for the keywords and for how conditions decide what is shown.
//
// The form is a tree of nodes that mirrors the value: ObjectNode (a fieldset), ArrayNode (a list
// with add and remove buttons) and LeafNode (one input, select or text area). Every control's
// id and name is its document path, e.g. `endpointGroups[0].sharedConfiguration.security.protocol`,
// so problems the server reports by path land next to their field.
//
// After every edit the form refreshes: it reads every field (hidden ones too) to decide which
// conditional sections apply, shows or hides them, reads the value again without the hidden
// fields, validates it against the schema and shows each problem next to the deepest shown
// field at or above the problem's path. Problems appear once a field was edited, or everywhere
// after a save was attempted (revealProblems); problems the server reported stay until their
// field is edited.

import { announceFieldProblem, h, humanize } from './dom.js';
import { formatPath, valueAt } from './paths.js';
import {
  SECRET_MASK, anyHolds, canonicalEnumValue, describeLimits, drawingSchema, isObject, layoutOf, matches, partsOf, validate,
} from './schema.js';

export class SchemaForm {
  /**
   * @param {object} options
   * @param {object} options.schema   the JSON Schema of the value (an object schema)
   * @param {object} options.value    the value to edit (as the server sent it: secrets masked)
   * @param {Array}  options.base     the document path of the value; every id is base + its own path
   * @param {string} [options.legend] the title of the whole form (else the schema's)
   * @param {string} [options.description] a sentence under it (else the schema's)
   * @param {Function} [options.onChange] called after every edit
   */
  constructor({ schema, value, base = [], legend, description, onChange }) {
    this.schema = schema;
    this.base = base;
    this.onChange = onChange ?? (() => {});
    this.showAll = false;
    this.controls = new WeakMap(); // control element → its leaf node
    this.nodes = new Map(); // path text (inside the form) → node
    const drawing = { ...schema, title: legend ?? schema.title, description: description ?? schema.description };
    const entry = { name: null, parts: [{ schema, when: [] }], schema: drawing, showWhen: null, requiredAlways: true, requiredWhen: [] };
    this.root = new ObjectNode(this, null, [], entry, isObject(value) ? value : {}, true);
    this.element = this.root.element;
    this.element.classList.add('schema-form');
    const edited = (event) => this.edited(event.target);
    this.element.addEventListener('input', edited);
    this.element.addEventListener('change', edited);
    this.reindex();
    this.refresh();
  }

  /** The id of the field at `path` inside the form: its whole document path. */
  idOf(path) {
    return formatPath([...this.base, ...path]);
  }

  /** The value, without the fields that are hidden. */
  get value() {
    return this.current.value;
  }

  /** The problems the form knows of: [{path (document path), message, id (of the field showing it), label}]. */
  get problems() {
    return this.current.problems.map((problem) => {
      const node = this.nodeFor(problem.path);
      return { path: [...this.base, ...problem.path], message: problem.message, id: node.id, label: node.label };
    });
  }

  /** Shows every problem, edited or not (after a save was attempted). */
  revealProblems() {
    this.showAll = true;
    this.refresh();
  }

  /** Shows a problem the server reported at `path` (inside the form); returns the node showing it. */
  placeServerProblem(path, message) {
    const node = this.nodeFor(path);
    if (!node.serverMessages.includes(message)) node.serverMessages.push(message);
    this.refresh();
    return node;
  }

  clearServerProblems() {
    this.root.walk((node) => { node.serverMessages = []; });
    this.refresh();
  }

  /** The deepest shown node at or above `path` (inside the form). */
  nodeFor(path) {
    for (let length = path.length; length >= 0; length -= 1) {
      const node = this.nodes.get(formatPath(path.slice(0, length)));
      if (node && node.visible) return node;
    }
    return this.root;
  }

  edited(target) {
    const node = this.controls.get(target);
    if (!node) return;
    node.touched = true;
    // A problem the server reported here, or about a section this field is in, may be gone.
    for (let current = node; current; current = current.parent) current.serverMessages = [];
    const before = node.errorElement.textContent;
    this.refresh();
    // The field's error is linked to it (aria-describedby); a new one is also said at once.
    const after = node.errorElement.textContent;
    if (after && after !== before) announceFieldProblem(`${node.label}: ${after}`);
    this.onChange();
  }

  /** After fields were added or removed (array items). */
  structureChanged() {
    this.reindex();
    this.refresh();
    this.onChange();
  }

  reindex() {
    this.nodes.clear();
    this.root.walk((node) => this.nodes.set(formatPath(node.path), node));
  }

  refresh() {
    // Conditions look at everything filled in, defaults applied, as the server's `if` does.
    const everything = validate(this.schema, this.root.read(true), [], []);
    const holds = (condition) => {
      const target = valueAt(everything, condition.at);
      return target !== undefined && matches(condition.if, target) === condition.holds;
    };
    this.root.update(true, holds);
    const value = this.root.read(false);
    const problems = [];
    validate(this.schema, value, [], problems);
    this.root.walk((node) => {
      if (node.visible && node.parseError) problems.push({ path: node.path, message: node.parseError });
    });
    this.current = { value, problems };
    const messages = new Map();
    for (const problem of problems) {
      const node = this.nodeFor(problem.path);
      if (!messages.has(node)) messages.set(node, []);
      messages.get(node).push(problem.message);
    }
    this.root.walk((node) => node.showMessages(messages.get(node) ?? []));
  }
}

/** What the nodes share: place, visibility, messages. */
class Node {
  constructor(form, parent, path, entry, present) {
    this.form = form;
    this.parent = parent;
    this.path = path;
    this.name = path.length ? path[path.length - 1] : null;
    this.entry = entry;
    this.schema = entry.schema;
    this.present = present; // whether the edited value had this member
    this.id = form.idOf(path);
    this.label = entry.schema.title ?? (typeof this.name === 'string' ? humanize(this.name) : '');
    this.touched = false;
    this.serverMessages = [];
    this.visible = true;
    this.required = entry.requiredAlways;
  }

  /** Decides whether the node is shown and required, given whether its parent is shown. */
  update(parentVisible, holds) {
    const shown = this.entry.showWhen === null || anyHolds(this.entry.showWhen, holds);
    this.visible = parentVisible && shown;
    this.required = this.entry.requiredAlways || anyHolds(this.entry.requiredWhen, holds);
    this.element.hidden = !shown;
  }

  walk(visit) {
    visit(this);
  }

  /** Problems are shown once the field was edited, or after a save was attempted. */
  showMessages(clientMessages) {
    const shownClient = this.touched || this.form.showAll ? clientMessages : [];
    const messages = [...shownClient, ...this.serverMessages.filter((message) => !shownClient.includes(message))];
    this.errorElement.textContent = messages.map(sentence).join(' ');
    this.errorElement.hidden = messages.length === 0;
    this.element.classList.toggle('invalid', messages.length > 0);
    this.control?.setAttribute('aria-invalid', String(messages.length > 0));
  }

  hintAndError(extra = '') {
    const text = [this.schema.description, extra].filter(Boolean).join(' ');
    this.hintElement = h('p', { class: 'hint', id: `${this.id}--hint`, hidden: !text }, text);
    this.errorElement = h('p', { class: 'field-error', id: `${this.id}--error`, hidden: true });
    return [this.hintElement, this.errorElement];
  }
}

function sentence(message) {
  const text = message.charAt(0).toUpperCase() + message.slice(1);
  return /[.!?]$/.test(text) ? text : `${text}.`;
}

function isEmpty(value) {
  return (isObject(value) && Object.keys(value).length === 0) || (Array.isArray(value) && value.length === 0);
}

/** The node that draws `entry` (a property, an array item or the root). */
function makeNode(form, parent, path, entry, value, present) {
  const kind = entry.schema.type;
  if (kind === 'object') return new ObjectNode(form, parent, path, entry, value, present);
  if (kind === 'array') return new ArrayNode(form, parent, path, entry, value, present);
  return new LeafNode(form, parent, path, entry, value, present);
}

class ObjectNode extends Node {
  constructor(form, parent, path, entry, value, present) {
    super(form, parent, path, entry, present);
    this.original = isObject(value) ? value : isObject(entry.schema.default) ? structuredClone(entry.schema.default) : {};
    const parts = entry.parts.flatMap((part) => partsOf(part.schema, part.when, path));
    const layout = layoutOf(parts);
    this.known = new Set(layout.map((child) => child.name));
    this.children = layout.map((child) => makeNode(
      form, this, [...path, child.name], child, this.original[child.name] ?? undefined, child.name in this.original,
    ));
    const leaves = this.children.filter((child) => child instanceof LeafNode);
    const sections = this.children.filter((child) => !(child instanceof LeafNode));
    const unknown = Object.keys(this.original).filter((key) => !this.known.has(key));
    let empty = null;
    if (!this.children.length) {
      empty = h('p', { class: 'hint' }, unknown.length && path.length
        ? 'Settings this console does not know are kept as they are.'
        : 'No settings.');
    }
    this.element = h('fieldset', { class: 'object', id: this.id || null, tabindex: this.id ? '-1' : null },
      this.label ? h('legend', {}, this.label) : null,
      this.hintAndError(),
      empty,
      leaves.length ? h('div', { class: 'fields' }, leaves.map((child) => child.element)) : null,
      sections.map((child) => child.element));
  }

  update(parentVisible, holds) {
    super.update(parentVisible, holds);
    for (const child of this.children) child.update(this.visible, holds);
  }

  walk(visit) {
    visit(this);
    for (const child of this.children) child.walk(visit);
  }

  /** The object: shown members (every member when `all`), and the members no schema knows. */
  read(all) {
    const values = new Map();
    for (const child of this.children) {
      if (!all && !child.visible) continue;
      const value = child.read(all);
      if (value === undefined) continue;
      // An empty section is left out unless it is required or was there already.
      if (!all && isEmpty(value) && !child.required && !child.present) continue;
      values.set(child.name, value);
    }
    // Members keep their order, so that saving an unchanged form changes nothing.
    const result = {};
    for (const key of Object.keys(this.original)) {
      if (values.has(key)) result[key] = values.get(key);
      else if (!this.known.has(key)) result[key] = this.original[key];
    }
    for (const [key, value] of values) if (!(key in result)) result[key] = value;
    return result;
  }

  focus() {
    this.element.focus();
  }
}

class ArrayNode extends Node {
  constructor(form, parent, path, entry, value, present) {
    super(form, parent, path, entry, present);
    this.itemSchema = entry.schema.items ?? {};
    this.scalarItems = !['object', 'array'].includes(this.itemSchema.type);
    let values = [];
    if (Array.isArray(value)) values = value;
    // The server accepts a comma-separated string for some lists (Kafka topics).
    else if (typeof value === 'string') values = value.split(',').map((item) => item.trim()).filter(Boolean);
    else if (Array.isArray(entry.schema.default)) values = structuredClone(entry.schema.default);
    this.list = h('ol', { class: 'items' });
    this.addButton = h('button', {
      type: 'button', class: 'secondary small', id: `${this.id}--add`, 'aria-label': `Add an item to ${this.label}`,
      onclick: () => this.add(),
    }, 'Add item');
    this.element = h('fieldset', { class: 'array', id: this.id, tabindex: '-1' },
      h('legend', {}, this.label),
      this.hintAndError(describeLimits(entry.schema)),
      this.list,
      this.addButton);
    this.build(values, true);
  }

  build(values, present) {
    this.items = values.map((value, index) => this.makeItem(index, value, present));
    // A list of words shows one empty field to start with, rather than only a button.
    if (!this.items.length && this.scalarItems) this.items.push(this.makeItem(0, undefined, false));
    this.list.replaceChildren(...this.items.map((item, index) => h('li', {},
      item.element,
      h('button', {
        type: 'button', class: 'link', id: `${item.id}--remove`, 'aria-label': `Remove ${item.label}`,
        onclick: () => this.remove(index),
      }, 'Remove'))));
  }

  makeItem(index, value, present) {
    const singular = this.itemSchema.title ?? this.label;
    const entry = {
      name: index,
      parts: [{ schema: this.itemSchema, when: [] }],
      schema: { ...drawingSchema([this.itemSchema]), title: `${singular} ${index + 1}` },
      showWhen: null,
      requiredAlways: false, // an empty item is left out, not refused
      requiredWhen: [],
    };
    return makeNode(this.form, this, [...this.path, index], entry, value, present);
  }

  add() {
    const values = this.items.map((item) => item.read(true));
    if (this.scalarItems) values.splice(0, values.length, ...values.filter((value) => value !== undefined));
    values.push(undefined);
    this.build(values, false);
    this.form.structureChanged();
    this.items[this.items.length - 1].focus();
  }

  remove(index) {
    const values = this.items.map((item) => item.read(true));
    values.splice(index, 1);
    this.build(values, true);
    this.form.structureChanged();
    this.addButton.focus();
  }

  update(parentVisible, holds) {
    super.update(parentVisible, holds);
    for (const item of this.items) item.update(this.visible, holds);
  }

  walk(visit) {
    visit(this);
    for (const item of this.items) item.walk(visit);
  }

  read(all) {
    const values = this.items.map((item) => item.read(all)).filter((value) => value !== undefined);
    return values.length || this.present || all ? values : undefined;
  }

  focus() {
    (this.items[0] ?? this.addButton).focus();
  }
}

class LeafNode extends Node {
  constructor(form, parent, path, entry, value, present) {
    super(form, parent, path, entry, present);
    const schema = entry.schema;
    const initial = value === undefined || value === null ? schema.default : value;
    this.parseError = null;
    let extra = describeLimits(schema);
    if (schema.writeOnly) {
      extra += initial === SECRET_MASK ? ' A secret is stored: it stays unless you type a new one.' : ' Secret: never shown back.';
    }
    const [hint, error] = this.hintAndError(extra.trim());
    const common = {
      id: this.id, name: this.id, 'data-path': this.id, 'aria-describedby': `${this.id}--hint ${this.id}--error`,
    };
    this.kind = leafKind(schema, initial);
    this.control = makeControl(this.kind, schema, initial, common);
    form.controls.set(this.control, this);
    this.requiredMark = h('span', { class: 'required-mark', 'aria-hidden': 'true' }, ' *');
    const label = h('label', { for: this.id }, this.label, this.requiredMark);
    this.element = this.kind === 'checkbox'
      ? h('div', { class: 'field field-check', id: `${this.id}--field` }, h('div', { class: 'check' }, this.control, label), hint, error)
      : h('div', { class: `field field-${this.kind}`, id: `${this.id}--field` }, label, this.control, hint, error);
  }

  update(parentVisible, holds) {
    super.update(parentVisible, holds);
    this.requiredMark.hidden = !this.required || this.kind === 'checkbox';
    this.control.setAttribute('aria-required', String(this.required && this.kind !== 'checkbox'));
  }

  /** The field's value: undefined when empty. A text that cannot be read sets parseError. */
  read() {
    const control = this.control;
    this.parseError = null;
    switch (this.kind) {
      case 'checkbox':
        return control.checked;
      case 'number': {
        if (control.validity.badInput) {
          this.parseError = this.schema.type === 'integer' ? 'must be an integer' : 'must be a number';
          return undefined;
        }
        return control.value.trim() === '' ? undefined : Number(control.value);
      }
      case 'json': {
        if (control.value.trim() === '') return undefined;
        try {
          return JSON.parse(control.value);
        } catch {
          this.parseError = 'must be valid JSON';
          return undefined;
        }
      }
      default:
        return control.value === '' ? undefined : control.value;
    }
  }

  focus() {
    this.control.focus();
  }
}

/** Which control draws a leaf. */
function leafKind(schema, initial) {
  if (Array.isArray(schema.enum)) return 'select';
  switch (schema.type) {
    case 'boolean': return 'checkbox';
    case 'integer':
    case 'number': return 'number';
    case 'string':
      // Line breaks matter in PEM text: an <input> would drop them.
      if (schema['x-multiline'] || schema.contentMediaType || (typeof initial === 'string' && initial.includes('\n'))) return 'textarea';
      return schema.writeOnly ? 'password' : 'text';
    default:
      return 'json'; // a schema without a type we draw: the value as JSON text
  }
}

function makeControl(kind, schema, initial, common) {
  switch (kind) {
    case 'checkbox':
      return h('input', { ...common, type: 'checkbox', checked: Boolean(initial) });
    case 'select': {
      const options = [...schema.enum];
      // `scram_sha_256` is read as SCRAM-SHA-256 by the server: show it so.
      if (typeof initial === 'string') initial = canonicalEnumValue(initial, schema.enum) ?? initial;
      if (typeof initial === 'string' && !options.includes(initial)) options.push(initial); // shown, and reported
      const blank = schema.default === undefined ? [h('option', { value: '' }, 'Not set')] : [];
      return h('select', common, blank, options.map((option) => h('option', {
        value: option, selected: option === initial,
      }, schema.enum.includes(option) ? option : `${option} (not allowed)`)));
    }
    case 'number':
      return h('input', {
        ...common, type: 'number', inputmode: schema.type === 'integer' ? 'numeric' : 'decimal',
        step: schema.type === 'integer' ? '1' : 'any', min: schema.minimum, max: schema.maximum,
        value: initial === undefined ? '' : String(initial),
      });
    case 'textarea':
      return h('textarea', {
        ...common, rows: 4, spellcheck: 'false',
        // Prose (x-multiline) in the page's font; keys and certificates in a fixed one.
        class: [schema['x-multiline'] ? null : 'code', schema.writeOnly ? 'secret-text' : null].filter(Boolean).join(' ') || null,
        value: initial === undefined ? '' : String(initial),
      });
    case 'json':
      return h('textarea', {
        ...common, rows: 4, spellcheck: 'false', class: 'code json',
        value: initial === undefined ? '' : JSON.stringify(initial, null, 2),
      });
    default: {
      const input = h('input', {
        ...common, type: kind === 'password' ? 'password' : 'text', spellcheck: 'false',
        autocomplete: kind === 'password' ? 'new-password' : 'off',
        value: initial === undefined ? '' : String(initial),
      });
      // Typing over a stored secret's mask replaces all of it.
      if (kind === 'password') input.addEventListener('focus', () => { if (input.value === SECRET_MASK) input.select(); });
      return input;
    }
  }
}
