// The JSON Schemas of connector configurations, as the management catalogue serves them
// (SluiceCore JSONSchema.json): type, title, description, properties, required, default, enum,
// const, minimum, maximum, minLength, maxLength, items, minItems, allOf, if/then/else, writeOnly.
//
// validate() mirrors SchemaValidation.swift, messages included, so the console refuses what the
// server would refuse and says it with the same words. partsOf()/layoutOf() work out how an
// object's properties are drawn when allOf and if/then/else decide which of them apply.
// Nothing here touches the DOM.

/** What the server shows instead of a secret; sending it back keeps the stored secret. */
export const SECRET_MASK = '********';

export function isObject(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function deepEqual(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** The canonical spelling of an enum value: exact, else case-insensitive with `_` and `-` equal. */
export function canonicalEnumValue(value, allowed) {
  if (allowed.includes(value)) return value;
  const fold = (text) => text.toLowerCase().replaceAll('_', '-');
  return allowed.find((candidate) => fold(candidate) === fold(value));
}

/** "an integer between 0 and 10", as the server words an integer's range. */
function integerRange(schema) {
  const { minimum: low, maximum: high } = schema;
  if (low !== undefined && high !== undefined) return `an integer between ${low} and ${high}`;
  if (low !== undefined) return `an integer >= ${low}`;
  if (high !== undefined) return `an integer <= ${high}`;
  return 'an integer';
}

/**
 * Validates `value` (undefined: the member is absent) at `path`, appending every problem
 * ({path, message}) to `problems`, and returns the value normalised as the server does:
 * defaults applied, enum spellings made canonical, numeric strings turned into integers where
 * the schema accepts them.
 */
export function validate(schema, value, path = [], problems = []) {
  if (value === undefined) {
    if (schema.default === undefined) return undefined;
    const fallback = structuredClone(schema.default);
    // A default object still gets its members' defaults.
    return schema.type === 'object' && isObject(fallback) ? validate(schema, fallback, path, problems) : fallback;
  }
  const fail = (message) => problems.push({ path, message });
  let result = value;
  switch (schema.type) {
    case 'object':
      if (!isObject(value)) { fail('must be an object'); return value; }
      result = validateObject(schema, value, path, problems);
      break;
    case 'array':
      if (!Array.isArray(value)) { fail('must be an array'); return value; }
      if (schema.minItems !== undefined && value.length < schema.minItems) {
        fail(schema.minItems === 1 ? 'must not be empty' : `must have at least ${schema.minItems} items`);
      }
      if (schema.items) {
        result = value.map((element, index) => validate(schema.items, element, [...path, index], problems) ?? element);
      }
      break;
    case 'string': {
      if (typeof value !== 'string') {
        fail(schema.enum ? `must be one of ${schema.enum.join(', ')}` : 'must be a string');
        return value;
      }
      if (schema.enum) {
        const canonical = canonicalEnumValue(value, schema.enum);
        if (canonical === undefined) fail(`must be one of ${schema.enum.join(', ')}`);
        else result = canonical;
      }
      const length = [...value].length;
      if (schema.minLength !== undefined && length < schema.minLength) {
        fail(schema.minLength === 1 ? 'must not be empty' : `must be at least ${schema.minLength} characters long`);
      }
      if (schema.maxLength !== undefined && length > schema.maxLength) {
        fail(`must be at most ${schema.maxLength} characters long`);
      }
      break;
    }
    case 'integer': {
      let integer = Number.isInteger(value) ? value : undefined;
      if (integer === undefined && schema['x-accepts-numeric-string'] && typeof value === 'string'
        && /^ *[+-]?\d+ *$/.test(value)) {
        integer = Number.parseInt(value.trim(), 10);
      }
      if (integer === undefined) { fail(`must be ${integerRange(schema)}`); return value; }
      if ((schema.minimum !== undefined && integer < schema.minimum)
        || (schema.maximum !== undefined && integer > schema.maximum)) {
        fail(`must be ${integerRange(schema)}`);
      }
      result = integer;
      break;
    }
    case 'number':
      if (typeof value !== 'number' || Number.isNaN(value)) { fail('must be a number'); return value; }
      break;
    case 'boolean':
      if (typeof value !== 'boolean') { fail('must be true or false'); return value; }
      break;
    default:
      break;
  }
  if ('const' in schema && !deepEqual(result, schema.const)) fail(`must be ${JSON.stringify(schema.const)}`);
  for (const part of schema.allOf ?? []) result = validate(part, result, path, problems) ?? result;
  if (schema.if) {
    const branch = matches(schema.if, result) ? schema.then : schema.else;
    if (branch) result = validate(branch, result, path, problems) ?? result;
  }
  return result;
}

function validateObject(schema, object, path, problems) {
  const properties = schema.properties ?? {};
  const required = schema.required ?? [];
  const result = {};
  for (const [name, property] of Object.entries(properties)) {
    const member = object[name];
    if (member === undefined && required.includes(name)) {
      problems.push({ path: [...path, name], message: 'is required' });
      continue;
    }
    const normalised = validate(property, member, [...path, name], problems);
    if (normalised !== undefined) result[name] = normalised;
  }
  // Members the schema does not describe are kept (the server only warns about them).
  for (const [name, member] of Object.entries(object)) if (!(name in result)) result[name] = member;
  for (const name of required) {
    if (!(name in properties) && object[name] === undefined) problems.push({ path: [...path, name], message: 'is required' });
  }
  return result;
}

/** Whether `value` satisfies `schema` (an `if`), as the server decides it. */
export function matches(schema, value) {
  const problems = [];
  validate(schema, value, [], problems);
  return problems.length === 0;
}

// ---------------------------------------------------------------------------------------------
// Drawing objects whose schema has conditions.
//
// A *part* is one schema that describes an object, with the conditions (`when`) under which it
// applies: the object's own schema applies always; each allOf member applies as its parent
// does; an `if`'s `then` applies when the `if` matches and its `else` when it does not. A
// condition is {at, if, holds}: the `if` schema, the path (inside the form) of the object it
// looks at, and the outcome that makes the part apply.
//
// A property is *conditional* (shown only while a part naming it applies) when
//   - it is described only in conditional parts (`then: {properties: {ssl: ...}}`), or
//   - it is described always, but only conditional parts require it: Sluice's schemas list
//     every section in `properties` and say in `if/then` when one is needed, e.g. Kafka's
//     `security.sasl` is required when `protocol` is SASL_PLAINTEXT or SASL_SSL, and a role's
//     `topics` when it is `enabled`. Such a section is shown while it is needed.
// Every other property is shown always.
// ---------------------------------------------------------------------------------------------

/** The parts of `schema` found at form path `at`, each applying under `when` and more. */
export function partsOf(schema, when = [], at = []) {
  const parts = [{ schema, when }];
  for (const member of schema.allOf ?? []) parts.push(...partsOf(member, when, at));
  if (schema.if) {
    if (schema.then) parts.push(...partsOf(schema.then, [...when, { at, if: schema.if, holds: true }], at));
    if (schema.else) parts.push(...partsOf(schema.else, [...when, { at, if: schema.if, holds: false }], at));
  }
  return parts;
}

// Keywords that describe an object's members or combine schemas: not merged into a property's
// drawing schema (its members come from the parts themselves).
const STRUCTURAL = new Set(['properties', 'required', 'allOf', 'if', 'then', 'else']);

/**
 * How the properties of an object described by `parts` are drawn, in the order they are first
 * described: [{name, parts, schema, showWhen, requiredAlways, requiredWhen}] where
 * `parts` are the property's own schemas with the conditions they apply under, `schema` merges
 * their keywords for drawing (title, type, enum, limits...; the first that says wins),
 * `showWhen` is null (always shown) or a list of condition lists, any of which shows it, and
 * `requiredWhen` lists the condition lists under which it is required.
 */
export function layoutOf(parts) {
  const entries = new Map();
  const entry = (name) => {
    if (!entries.has(name)) {
      entries.set(name, { name, parts: [], describedAlways: false, requiredAlways: false, guards: [], requiredWhen: [] });
    }
    return entries.get(name);
  };
  for (const { schema, when } of parts) {
    for (const [name, property] of Object.entries(schema.properties ?? {})) {
      const found = entry(name);
      found.parts.push({ schema: property, when });
      if (when.length === 0) found.describedAlways = true;
      else found.guards.push(when);
    }
  }
  for (const { schema, when } of parts) {
    for (const name of schema.required ?? []) {
      const found = entry(name);
      if (when.length === 0) {
        found.requiredAlways = true;
      } else {
        found.requiredWhen.push(when);
        found.guards.push(when);
      }
    }
  }
  return [...entries.values()].map((found) => {
    const conditional = !found.describedAlways || (found.requiredWhen.length > 0 && !found.requiredAlways);
    return {
      name: found.name,
      parts: found.parts,
      schema: drawingSchema(found.parts.map((part) => part.schema)),
      showWhen: conditional ? found.guards : null,
      requiredAlways: found.requiredAlways,
      requiredWhen: found.requiredWhen,
    };
  });
}

/**
 * One schema to draw a value that `schemas` describe together: their keywords but the
 * structural ones, the first that says a keyword wins; `object` when one has properties.
 */
export function drawingSchema(schemas) {
  const drawing = {};
  for (const schema of schemas) {
    for (const [keyword, value] of Object.entries(schema)) {
      if (!STRUCTURAL.has(keyword) && !(keyword in drawing)) drawing[keyword] = value;
    }
  }
  if (!drawing.type && schemas.some((schema) => schema.properties)) drawing.type = 'object';
  return drawing;
}

/** Whether any of the condition lists holds (`holds` decides one condition). */
export function anyHolds(conditionLists, holds) {
  return conditionLists.some((conditions) => conditions.every(holds));
}

/** "Default 3. From 0 to 10." — what the schema allows, said next to the field. */
export function describeLimits(schema) {
  const notes = [];
  if (schema.default !== undefined && !isObject(schema.default) && !Array.isArray(schema.default) && schema.default !== '') {
    notes.push(`Default ${typeof schema.default === 'boolean' ? (schema.default ? 'on' : 'off') : schema.default}.`);
  }
  const { minimum: low, maximum: high, minLength, maxLength } = schema;
  if (low !== undefined && high !== undefined) notes.push(`From ${low} to ${high}.`);
  else if (low !== undefined) notes.push(`At least ${low}.`);
  else if (high !== undefined) notes.push(`At most ${high}.`);
  if (minLength !== undefined && minLength > 1) notes.push(`At least ${minLength} characters.`);
  if (maxLength !== undefined) notes.push(`At most ${maxLength} characters.`);
  if (schema.minItems !== undefined && schema.minItems > 0) notes.push(`At least ${schema.minItems}.`);
  return notes.join(' ');
}
