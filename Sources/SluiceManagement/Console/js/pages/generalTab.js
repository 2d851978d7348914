// The General tab: name, version, description and the entry paths of the HTTP listener.

import { h, replaceChildren } from '../dom.js';
import { SchemaForm } from '../schemaForm.js';

// The API's own fields are drawn by the same schema-driven forms as the connectors'.
const API_SCHEMA = {
  type: 'object',
  properties: {
    name: { type: 'string', title: 'Name', minLength: 1 },
    apiVersion: { type: 'string', title: 'Version', description: 'Your version label, e.g. 1.0.' },
    description: { type: 'string', title: 'Description', 'x-multiline': true },
  },
  required: ['name'],
};
const API_KEYS = Object.keys(API_SCHEMA.properties);

const PATHS_SCHEMA = {
  type: 'object',
  properties: {
    paths: {
      type: 'array',
      title: 'Paths',
      description: 'Clients reach the API at these paths of the gateway.',
      minItems: 1,
      items: {
        type: 'object',
        title: 'Path',
        properties: {
          path: { type: 'string', title: 'Path', description: 'Starts with /, e.g. /orders.', minLength: 1 },
          host: { type: 'string', title: 'Virtual host', description: 'Only requests for this host; empty: any host.' },
        },
        required: ['path'],
      },
    },
  },
  required: ['paths'],
};

export function generalTab(state) {
  const panel = h('div');
  let apiForm;
  let pathsForm;
  let listenerIndex;

  function render() {
    const definition = state.definition;
    const listeners = definition.listeners ?? [];
    listenerIndex = listeners.findIndex((listener) => listener.type === 'http');
    if (listenerIndex < 0) listenerIndex = listeners.length; // made on save
    const values = Object.fromEntries(API_KEYS.filter((key) => key in definition).map((key) => [key, definition[key]]));
    apiForm = new SchemaForm({ schema: API_SCHEMA, value: values, base: [], legend: 'API', onChange: state.onChange });
    pathsForm = new SchemaForm({
      schema: PATHS_SCHEMA,
      value: { paths: listeners[listenerIndex]?.paths ?? [] },
      base: ['listeners', listenerIndex],
      legend: 'HTTP entry',
      onChange: state.onChange,
    });
    replaceChildren(panel, h('h2', {}, 'General'), apiForm.element, pathsForm.element);
  }

  function collect(definition) {
    const value = apiForm.value;
    for (const key of API_KEYS) {
      if (value[key] === undefined) delete definition[key];
      else definition[key] = value[key];
    }
    definition.listeners ??= [];
    definition.listeners[listenerIndex] ??= { type: 'http', paths: [], entrypoints: [] };
    definition.listeners[listenerIndex].paths = pathsForm.value.paths ?? [];
  }

  render();
  return { name: 'general', title: 'General', panel, render, collect, forms: () => [apiForm, pathsForm] };
}
