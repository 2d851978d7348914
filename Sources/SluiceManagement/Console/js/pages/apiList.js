// The APIs in the management store, and the "New API" form.

import { api } from '../api.js';
import { endpointType, newApiDefinition } from '../catalog.js';
import { h, replaceChildren } from '../dom.js';
import { saveNewApiDraft } from './apiPage.js';

const PER_PAGE = 50;

export async function apiListPage(container, _params, app) {
  const catalog = await api.catalog();
  let page = 1;
  const tableArea = h('div', { id: 'api-list' });

  async function showPage(number) {
    const list = await api.listApis(number, PER_PAGE);
    page = number;
    replaceChildren(tableArea, apiTable(list, catalog), pager(list));
  }

  function pager(list) {
    const pages = Math.max(1, Math.ceil(list.total / list.perPage));
    if (pages === 1) return null;
    return h('nav', { class: 'pager', 'aria-label': 'Pages of APIs' },
      h('button', { type: 'button', class: 'secondary small', disabled: page <= 1, onclick: () => showPage(page - 1) }, 'Previous'),
      h('span', {}, `Page ${page} of ${pages}`),
      h('button', { type: 'button', class: 'secondary small', disabled: page >= pages, onclick: () => showPage(page + 1) }, 'Next'));
  }

  await showPage(1);
  container.append(
    h('h1', {}, 'APIs'),
    tableArea,
    newApiForm(catalog, app));
  return null;
}

function apiTable(list, catalog) {
  if (!list.data.length) {
    return h('p', { class: 'empty', id: 'no-apis' }, 'No API yet: create one below.');
  }
  return h('table', { class: 'apis', id: 'api-table' },
    h('caption', {}, `${list.total} API${list.total === 1 ? '' : 's'}`),
    h('thead', {}, h('tr', {},
      h('th', { scope: 'col' }, 'Name'),
      h('th', { scope: 'col' }, 'Paths'),
      h('th', { scope: 'col' }, 'Endpoint'),
      h('th', { scope: 'col' }, 'Deployment'))),
    h('tbody', {}, list.data.map((summary) => h('tr', { 'data-api-id': summary.id },
      h('th', { scope: 'row' }, h('a', { href: `#/apis/${encodeURIComponent(summary.id)}/general` }, summary.name ?? summary.id)),
      h('td', {}, (summary.paths ?? []).map((path) => h('code', {}, path)).flatMap((code, index) => (index ? [', ', code] : [code]))),
      h('td', {}, endpointType(catalog, summary.endpointType)?.title ?? summary.endpointType ?? '—'),
      h('td', { class: 'deployment' }, deploymentSummary(summary))))));
}

function deploymentSummary(summary) {
  if (!summary.deployed) return h('span', { class: 'badge off' }, 'Not deployed');
  const behind = summary.deployedRevision !== summary.revision
    ? ` (revision ${summary.deployedRevision}; ${summary.revision} not deployed)`
    : ` (revision ${summary.deployedRevision})`;
  return [h('span', { class: 'badge on' }, 'Deployed'), behind];
}

/** Name, path and endpoint type: the new API opens, not saved yet, to configure its endpoint. */
function newApiForm(catalog, app) {
  const fields = {
    name: { label: 'Name', control: h('input', { id: 'new-api.name', name: 'name', autocomplete: 'off', spellcheck: 'false' }) },
    path: {
      label: 'Path',
      hint: 'Where clients reach it on the gateway, e.g. /orders.',
      control: h('input', { id: 'new-api.path', name: 'path', autocomplete: 'off', spellcheck: 'false', placeholder: '/orders' }),
    },
    endpointType: {
      label: 'Endpoint type',
      control: h('select', { id: 'new-api.endpointType', name: 'endpointType' },
        h('option', { value: '' }, 'Choose a broker'),
        catalog.endpoints.map((entry) => h('option', { value: entry.type }, entry.title ?? entry.type))),
    },
  };
  const errors = {};
  const rows = Object.entries(fields).map(([key, field]) => {
    const id = field.control.id;
    errors[key] = h('p', { class: 'field-error', id: `${id}--error`, hidden: true });
    field.control.setAttribute('aria-describedby', `${id}--hint ${id}--error`);
    field.control.setAttribute('aria-required', 'true');
    return h('div', { class: 'field' },
      h('label', { for: id }, field.label),
      field.control,
      h('p', { class: 'hint', id: `${id}--hint`, hidden: !field.hint }, field.hint ?? ''),
      errors[key]);
  });

  function check() {
    const value = Object.fromEntries(Object.entries(fields).map(([key, field]) => [key, field.control.value.trim()]));
    const problems = {};
    if (!value.name) problems.name = 'Give the API a name.';
    if (!value.path) problems.path = 'Give the API a path.';
    else if (!value.path.startsWith('/')) problems.path = 'A path starts with /.';
    if (!value.endpointType) problems.endpointType = 'Choose the type of broker behind the API.';
    for (const [key, field] of Object.entries(fields)) {
      errors[key].textContent = problems[key] ?? '';
      errors[key].hidden = !problems[key];
      field.control.setAttribute('aria-invalid', String(Boolean(problems[key])));
    }
    return { value, problems };
  }

  function create(event) {
    event.preventDefault();
    const { value, problems } = check();
    const first = Object.keys(problems)[0];
    if (first) {
      fields[first].control.focus();
      return;
    }
    saveNewApiDraft(newApiDefinition(value, catalog));
    app.navigate('#/apis/new/endpoints');
  }

  return h('section', { class: 'card new-api', 'aria-labelledby': 'new-api-title' },
    h('h2', { id: 'new-api-title' }, 'New API'),
    h('p', { class: 'hint' }, 'It opens on its backend service: configure the broker, then save.'),
    h('form', { id: 'new-api-form', novalidate: true, onsubmit: create },
      h('div', { class: 'fields' }, rows),
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', id: 'new-api-create' }, 'Create'))));
}
