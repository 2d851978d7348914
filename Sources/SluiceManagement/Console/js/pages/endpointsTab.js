// The Endpoints tab ("Backend services"): each endpoint group with its shared configuration
// and each of its endpoints with its own configuration, every form drawn from the endpoint
// type's schemas (configurationSchema, sharedConfigurationSchema).

import { endpointType, freshName } from '../catalog.js';
import { h, replaceChildren } from '../dom.js';
import { formatPath } from '../paths.js';
import { SchemaForm } from '../schemaForm.js';

const LOAD_BALANCERS = ['round-robin', 'random', 'weighted-round-robin', 'weighted-random'];

function unknownTypeSchema(type, title) {
  return { title, description: `${type} is not an endpoint type this gateway knows; this is kept as JSON.` };
}

/** A group's own settings as the console edits them: its name and load balancing. */
const GROUP_SCHEMA = {
  type: 'object',
  properties: {
    name: { type: 'string', title: 'Group name', minLength: 1 },
    loadBalancer: {
      type: 'object',
      title: 'Load balancing',
      properties: { type: { type: 'string', title: 'Between the endpoints', enum: LOAD_BALANCERS, default: 'round-robin' } },
    },
  },
  required: ['name'],
};

/**
 * An endpoint as the console edits it. An endpoint that does not inherit its group's shared
 * configuration needs its own (sharedConfigurationOverride): said as a condition, so that the
 * form shows that section exactly when the box is unticked.
 */
function endpointSchema(entry, type) {
  return {
    type: 'object',
    properties: {
      name: { type: 'string', title: 'Endpoint name', minLength: 1 },
      configuration: entry ? entry.configurationSchema : unknownTypeSchema(type, 'Configuration'),
      inheritConfiguration: { type: 'boolean', title: 'Use the group’s shared configuration', default: false },
      sharedConfigurationOverride: entry
        ? { ...entry.sharedConfigurationSchema, title: 'Shared configuration of this endpoint' }
        : unknownTypeSchema(type, 'Shared configuration of this endpoint'),
    },
    required: ['name'],
    allOf: [{
      if: { type: 'object', properties: { inheritConfiguration: { const: false } }, required: ['inheritConfiguration'] },
      then: { type: 'object', required: ['sharedConfigurationOverride'] },
    }],
  };
}

/** `value` with the members of `original` first, in their order: an unchanged save changes nothing. */
function inOrder(original, value) {
  const result = {};
  for (const key of Object.keys(original)) if (key in value) result[key] = value[key];
  return Object.assign(result, value);
}

export function endpointsTab(state) {
  const panel = h('div');
  let groups = []; // {original, form, shared, endpoints: [form]}

  function allNames() {
    const definition = state.definition;
    return (definition.endpointGroups ?? []).flatMap((group) => [group.name, ...(group.endpoints ?? []).map((endpoint) => endpoint.name)]);
  }

  function render() {
    const definition = state.definition;
    definition.endpointGroups ??= [];
    groups = [];
    const sections = definition.endpointGroups.map((group, groupIndex) => {
      const entry = endpointType(state.catalog, group.type);
      const base = ['endpointGroups', groupIndex];
      const { endpoints = [], sharedConfiguration, ...settings } = group;
      const form = new SchemaForm({ schema: GROUP_SCHEMA, value: settings, base, onChange: state.onChange }); // under the card's heading
      // Drawn apart from the group's own settings so that it comes after the endpoints.
      const shared = new SchemaForm({
        schema: entry ? entry.sharedConfigurationSchema : unknownTypeSchema(group.type, 'Shared configuration'),
        value: sharedConfiguration,
        base: [...base, 'sharedConfiguration'],
        legend: `Shared configuration${entry?.sharedConfigurationSchema.title ? `: ${entry.sharedConfigurationSchema.title}` : ''}`,
        description: 'Used by every endpoint of the group that inherits it.',
        onChange: state.onChange,
      });
      const endpointForms = endpoints.map((endpoint, index) => new SchemaForm({
        schema: endpointSchema(entry, group.type),
        value: endpoint,
        base: [...base, 'endpoints', index],
        legend: `Endpoint ${endpoint.name ?? index + 1}`,
        onChange: state.onChange,
      }));
      groups.push({ original: group, form, shared, endpoints: endpointForms });
      const id = formatPath(base);
      return h('section', { class: 'card group', 'aria-labelledby': `${id}--title`, 'data-type': group.type },
        h('div', { class: 'card-head' },
          h('h3', { id: `${id}--title` }, `Endpoint group “${group.name}”`, ' ', h('span', { class: 'badge' }, entry?.title ?? group.type)),
          definition.endpointGroups.length > 1
            ? h('button', {
              type: 'button', class: 'link danger', id: `${id}--remove`, 'aria-label': `Remove the endpoint group ${group.name}`,
              onclick: () => removeGroup(groupIndex),
            }, 'Remove group')
            : null),
        form.element,
        endpointForms.map((endpointForm, index) => h('div', { class: 'endpoint' },
          endpointForm.element,
          endpoints.length > 1
            ? h('button', {
              type: 'button', class: 'link danger', id: `${formatPath([...base, 'endpoints', index])}--remove`,
              'aria-label': `Remove the endpoint ${endpoints[index].name}`,
              onclick: () => removeEndpoint(groupIndex, index),
            }, 'Remove endpoint')
            : null)),
        h('button', {
          type: 'button', class: 'secondary small', id: `${formatPath([...base, 'endpoints'])}--add`,
          onclick: () => addEndpoint(groupIndex),
        }, 'Add an endpoint'),
        shared.element);
    });
    const typeSelect = h('select', { id: 'add-group-type' },
      state.catalog.endpoints.map((entry) => h('option', { value: entry.type }, entry.title ?? entry.type)));
    replaceChildren(panel,
      h('h2', { tabindex: '-1' }, 'Backend services'),
      h('p', { class: 'hint' }, 'The brokers behind the API. Clients are served by the first endpoint group.'),
      sections,
      h('div', { class: 'add-row' },
        h('label', { for: 'add-group-type' }, 'Add an endpoint group'), typeSelect,
        h('button', { type: 'button', class: 'secondary', id: 'add-group', onclick: () => addGroup(typeSelect.value) }, 'Add')));
  }

  function collect(definition) {
    definition.endpointGroups = groups.map((group) => inOrder(group.original, {
      ...group.form.value,
      sharedConfiguration: group.shared.value,
      endpoints: group.endpoints.map((form) => form.value),
    }));
  }

  /** Changes the groups, draws the tab again and focuses the field with id `focusId`. */
  function change(edit, focusId) {
    collect(state.definition);
    edit(state.definition.endpointGroups);
    render();
    state.onChange();
    state.groupsChanged();
    (document.getElementById(focusId) ?? panel.querySelector('h2')).focus();
  }

  function addEndpoint(groupIndex) {
    const group = state.definition.endpointGroups[groupIndex];
    const index = group.endpoints?.length ?? 0;
    const name = freshName('endpoint', allNames());
    change((all) => {
      all[groupIndex].endpoints = [...(all[groupIndex].endpoints ?? []), { name, type: group.type, inheritConfiguration: true, configuration: {} }];
    }, formatPath(['endpointGroups', groupIndex, 'endpoints', index, 'name']));
  }

  function removeEndpoint(groupIndex, index) {
    change((all) => { all[groupIndex].endpoints.splice(index, 1); }, `${formatPath(['endpointGroups', groupIndex, 'endpoints'])}--add`);
  }

  function addGroup(type) {
    const index = state.definition.endpointGroups.length;
    const names = allNames();
    const name = freshName(type, names);
    const endpointName = freshName(`${type}-endpoint`, [...names, name]);
    change((all) => {
      all.push({ name, type, sharedConfiguration: {}, endpoints: [{ name: endpointName, type, inheritConfiguration: true, configuration: {} }] });
    }, formatPath(['endpointGroups', index, 'name']));
  }

  function removeGroup(groupIndex) {
    change((all) => { all.splice(groupIndex, 1); }, 'add-group-type');
  }

  render();
  return { name: 'endpoints', title: 'Endpoints', panel, render, collect, forms: () => groups.flatMap((group) => [group.form, ...group.endpoints, group.shared]) };
}
