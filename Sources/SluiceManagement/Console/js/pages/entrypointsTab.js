// The Entrypoints tab: how clients talk to the API (HTTP POST, HTTP GET, SSE, WebSocket...).
// Each entrypoint offers only the QoS levels both it and the API's endpoint type support, and
// its settings form is drawn from its type's schema.

import { apiEndpointType, commonQos, defaultQos, entrypointType } from '../catalog.js';
import { h, replaceChildren } from '../dom.js';
import { formatPath } from '../paths.js';
import { SchemaForm } from '../schemaForm.js';

/** The schema of one entrypoint as the console edits it: its QoS and its configuration. */
function entrypointSchema(entry, endpoint, type) {
  const levels = commonQos(entry, endpoint);
  const qos = {
    type: 'string',
    title: 'Quality of service',
    description: entry && endpoint
      ? `The levels both ${entry.title} and the ${endpoint.title} endpoint offer.`
      : 'The levels this entrypoint offers.',
    enum: levels,
  };
  if (levels.length) qos.default = defaultQos(levels);
  const configuration = entry
    ? { ...entry.configurationSchema, title: 'Settings' }
    : { title: 'Settings', description: `${type} is not a type this gateway knows; its settings are kept as JSON.` };
  return { type: 'object', properties: { qos, configuration } };
}

export function entrypointsTab(state) {
  const panel = h('div');
  let cards = []; // {listener, index, form}

  function render() {
    const definition = state.definition;
    const endpoint = apiEndpointType(state.catalog, definition);
    cards = [];
    const sections = [];
    (definition.listeners ?? []).forEach((listener, listenerIndex) => {
      (listener.entrypoints ?? []).forEach((entrypoint, index) => {
        const entry = entrypointType(state.catalog, entrypoint.type);
        const base = ['listeners', listenerIndex, 'entrypoints', index];
        const form = new SchemaForm({
          schema: entrypointSchema(entry, endpoint, entrypoint.type),
          value: entrypoint,
          base,
          onChange: state.onChange,
        });
        cards.push({ listener: listenerIndex, index, form });
        const headingId = `${formatPath(base)}--title`;
        sections.push(h('section', { class: 'card entrypoint', 'aria-labelledby': headingId, 'data-type': entrypoint.type },
          h('div', { class: 'card-head' },
            h('h3', { id: headingId }, entry?.title ?? entrypoint.type, ' ', h('code', {}, entrypoint.type)),
            h('button', {
              type: 'button', class: 'link danger', id: `${formatPath(base)}--remove`,
              'aria-label': `Remove the ${entry?.title ?? entrypoint.type} entrypoint`,
              onclick: () => remove(listenerIndex, index),
            }, 'Remove')),
          form.element));
      });
    });
    const used = new Set(cards.map((card) => definition.listeners[card.listener].entrypoints[card.index].type));
    const addable = state.catalog.entrypoints.filter((entry) => !used.has(entry.type) && commonQos(entry, endpoint).length);
    const select = h('select', { id: 'add-entrypoint-type' }, addable.map((entry) => h('option', { value: entry.type }, entry.title ?? entry.type)));
    replaceChildren(panel,
      h('h2', {}, 'Entrypoints'),
      h('p', { class: 'hint' }, endpoint
        ? `How clients reach the API. QoS choices are limited to what the ${endpoint.title} endpoint supports too.`
        : 'How clients reach the API.'),
      sections.length ? sections : h('p', { class: 'empty' }, 'No entrypoint: clients cannot reach this API.'),
      addable.length
        ? h('div', { class: 'add-row' },
          h('label', { for: 'add-entrypoint-type' }, 'Add an entrypoint'), select,
          h('button', { type: 'button', class: 'secondary', id: 'add-entrypoint', onclick: () => add(select.value) }, 'Add'))
        : null);
  }

  function collect(definition) {
    for (const card of cards) definition.listeners[card.listener].entrypoints[card.index] = card.form.value;
  }

  function add(type) {
    const definition = state.definition;
    collect(definition);
    const entry = entrypointType(state.catalog, type);
    const listenerType = entry?.listenerType ?? 'http';
    definition.listeners ??= [];
    let listener = definition.listeners.find((candidate) => candidate.type === listenerType);
    if (!listener) {
      listener = listenerType === 'http' ? { type: 'http', paths: [], entrypoints: [] } : { type: listenerType, entrypoints: [] };
      definition.listeners.push(listener);
    }
    listener.entrypoints ??= [];
    listener.entrypoints.push({ type, qos: defaultQos(commonQos(entry, apiEndpointType(state.catalog, definition))) });
    render();
    state.onChange();
    const card = cards[cards.length - 1];
    document.getElementById(formatPath(['listeners', card.listener, 'entrypoints', card.index, 'qos']))?.focus();
  }

  function remove(listenerIndex, index) {
    const definition = state.definition;
    collect(definition);
    definition.listeners[listenerIndex].entrypoints.splice(index, 1);
    render();
    state.onChange();
    (document.getElementById('add-entrypoint-type') ?? panel.querySelector('h2')).focus();
  }

  render();
  return { name: 'entrypoints', title: 'Entrypoints', panel, render, collect, forms: () => cards.map((card) => card.form) };
}
