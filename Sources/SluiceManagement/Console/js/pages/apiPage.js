// One API: its deployment status, Save / Deploy / Undeploy / Delete, and three tabs (General,
// Entrypoints, Endpoints). Every tab edits the same working copy of the definition; Save puts
// the whole definition (PUT, or POST for a new API), Deploy saves and then deploys. Problems,
// the console's own or the server's (422, 409: by document path), are shown next to their
// fields and listed in a summary whose entries lead to them.

import { api } from '../api.js';
import { apiEndpointType } from '../catalog.js';
import { announce, h, replaceChildren } from '../dom.js';
import { formatPath, hasPrefix, parsePath } from '../paths.js';
import { endpointsTab } from './endpointsTab.js';
import { entrypointsTab } from './entrypointsTab.js';
import { generalTab } from './generalTab.js';

const DRAFT_KEY = 'sluice.newApi';

/** Keeps the definition of a new API for the page that configures it before its first save. */
export function saveNewApiDraft(definition) {
  sessionStorage.setItem(DRAFT_KEY, JSON.stringify(definition));
}

function loadNewApiDraft() {
  try {
    return JSON.parse(sessionStorage.getItem(DRAFT_KEY) ?? 'null');
  } catch {
    return null;
  }
}

function sentence(message) {
  const text = String(message ?? '');
  const capitalised = text.charAt(0).toUpperCase() + text.slice(1);
  return /[.!?]$/.test(capitalised) ? capitalised : `${capitalised}.`;
}

export async function apiPage(container, { id, tab }, app) {
  const catalog = await api.catalog();
  let resource = null; // the server's representation; null while the API is new
  let definition;
  if (id === null) {
    definition = loadNewApiDraft();
    if (!definition) {
      app.flash('The new API was not found: create it again.');
      app.navigate('#/apis');
      return null;
    }
  } else {
    resource = await api.getApi(id);
    definition = structuredClone(resource.definition);
  }
  let dirty = id === null;
  let busy = false;

  // What the tabs share: the working copy, the catalogue and what to do on a change.
  const state = {
    definition,
    catalog,
    onChange: () => {
      dirty = true;
      updateFormStatus();
    },
    groupsChanged: () => {
      // The entrypoints' QoS choices depend on the first group's endpoint type.
      entrypoints.collect(state.definition);
      entrypoints.render();
    },
  };

  // --- header -----------------------------------------------------------------------------
  const title = h('h1', {}, definition.name || 'New API');
  const crumb = h('span', { 'aria-current': 'page' }, definition.name || 'New API');
  const meta = h('p', { class: 'meta' });
  const status = h('p', { id: 'deployment-status', class: 'deployment-status', 'aria-live': 'polite' });
  const formStatus = h('p', { id: 'form-status', class: 'form-status', 'aria-live': 'polite' });
  const saveButton = h('button', { type: 'button', class: 'secondary', id: 'save-api', onclick: () => save(false) }, 'Save');
  const deployButton = h('button', { type: 'button', class: 'primary', id: 'deploy-api', onclick: () => save(true) }, 'Deploy');
  const undeployButton = h('button', { type: 'button', class: 'secondary', id: 'undeploy-api', onclick: undeploy }, 'Undeploy');
  const deleteButton = h('button', { type: 'button', class: 'link danger', id: 'delete-api', onclick: remove }, 'Delete API');
  const summary = h('div', { id: 'problems-summary', class: 'problems-summary', role: 'alert', tabindex: '-1', hidden: true });

  // --- tabs -------------------------------------------------------------------------------
  const general = generalTab(state);
  const entrypoints = entrypointsTab(state);
  const endpoints = endpointsTab(state);
  const tabs = [general, entrypoints, endpoints];
  let activeTab = tabs.find((candidate) => candidate.name === tab) ?? general;

  const tabButtons = tabs.map((candidate) => h('button', {
    type: 'button', role: 'tab', id: `tab-${candidate.name}`, 'aria-controls': `panel-${candidate.name}`,
    onclick: () => activate(candidate, true),
  }, candidate.title));
  const tabList = h('div', { class: 'tabs', role: 'tablist', 'aria-label': 'API settings' }, tabButtons);
  // Arrow keys move between tabs (the WAI-ARIA tabs pattern); Tab goes into the panel.
  tabList.addEventListener('keydown', (event) => {
    const index = tabs.indexOf(activeTab);
    const next = { ArrowRight: index + 1, ArrowLeft: index - 1, Home: 0, End: tabs.length - 1 }[event.key];
    if (next === undefined) return;
    event.preventDefault();
    activate(tabs[(next + tabs.length) % tabs.length], true);
    tabButtons[tabs.indexOf(activeTab)].focus();
  });
  const panels = tabs.map((candidate) => {
    const panel = h('section', { role: 'tabpanel', id: `panel-${candidate.name}`, 'aria-labelledby': `tab-${candidate.name}`, class: 'panel' }, candidate.panel);
    candidate.container = panel;
    return panel;
  });

  function hashFor(name) {
    return `#/apis/${resource ? encodeURIComponent(resource.id) : 'new'}/${name}`;
  }

  function activate(target, remember) {
    activeTab = target;
    tabs.forEach((candidate, index) => {
      const selected = candidate === target;
      tabButtons[index].setAttribute('aria-selected', String(selected));
      tabButtons[index].tabIndex = selected ? 0 : -1;
      panels[index].hidden = !selected;
    });
    if (remember) app.replaceHash(hashFor(target.name));
  }

  // --- status -------------------------------------------------------------------------------
  function updateHeader() {
    title.textContent = state.definition.name || 'New API';
    crumb.textContent = title.textContent;
    const endpoint = apiEndpointType(catalog, state.definition);
    const type = endpoint?.title ?? state.definition.endpointGroups?.[0]?.type ?? 'no endpoint';
    replaceChildren(meta, resource ? ['Id ', h('code', {}, resource.id), ` · ${type}`] : `New API, not saved yet · ${type}`);
    const deployment = resource?.deployment;
    status.dataset.deployed = String(Boolean(deployment?.deployed));
    if (!resource) {
      status.textContent = 'Not saved yet: configure the backend service, then save or deploy.';
    } else if (!deployment.deployed) {
      status.textContent = `Not deployed. Latest revision: ${deployment.latestRevision}.`;
    } else if (deployment.revision === deployment.latestRevision) {
      status.textContent = `Deployed: revision ${deployment.revision} of ${deployment.latestRevision}${deployment.running ? ', running' : ', but not running in this gateway'}.`;
    } else {
      status.textContent = `Deployed: revision ${deployment.revision}; the latest revision ${deployment.latestRevision} is not deployed yet.`;
    }
    status.dataset.revision = String(deployment?.revision ?? '');
    status.dataset.latestRevision = String(deployment?.latestRevision ?? '');
    status.classList.toggle('on', Boolean(deployment?.deployed));
    undeployButton.hidden = !deployment?.deployed;
    deleteButton.hidden = !resource;
    updateFormStatus();
  }

  function updateFormStatus() {
    const count = forms().reduce((total, form) => total + (form.showAll ? form.problems.length : 0), 0);
    if (count) formStatus.textContent = `${count} problem${count === 1 ? '' : 's'} to fix before saving.`;
    else formStatus.textContent = dirty ? (resource ? 'Unsaved changes.' : 'Not saved yet.') : 'All changes saved.';
    formStatus.classList.toggle('warn', count > 0);
  }

  function forms() {
    return tabs.flatMap((candidate) => candidate.forms());
  }

  function formsWithTabs() {
    return tabs.flatMap((candidate) => candidate.forms().map((form) => ({ form, tab: candidate })));
  }

  // --- problems -----------------------------------------------------------------------------
  function clearProblems() {
    summary.hidden = true;
    summary.replaceChildren();
    for (const form of forms()) form.clearServerProblems();
  }

  /** Opens the tab that holds field `fieldId` and focuses it. */
  function focusField(fieldId) {
    const element = document.getElementById(fieldId);
    if (!element) return;
    const owner = tabs.find((candidate) => candidate.container.contains(element));
    if (owner) activate(owner, true);
    // A section (fieldset) leads to its first field.
    const target = element.matches('fieldset') ? element.querySelector('input, select, textarea') ?? element : element;
    target.focus();
    element.scrollIntoView({ block: 'center' });
  }

  /** The summary: a heading and, per problem, where it is (a button that leads there) and what. */
  function showSummary(heading, items) {
    replaceChildren(summary,
      h('h2', {}, heading),
      items.length ? h('ul', {}, items.map((item) => h('li', { class: item.severity === 'warning' ? 'warning' : null },
        item.id
          ? h('button', { type: 'button', class: 'link', onclick: () => focusField(item.id) }, item.where)
          : h('code', {}, item.where),
        item.tab ? ` (${item.tab.title})` : '',
        `: ${sentence(item.message)}`))) : null);
    summary.hidden = false;
    summary.focus();
    summary.scrollIntoView({ block: 'nearest' });
  }

  /** Places the server's problems on the fields they name (the form whose base is longest). */
  function showServerProblems(error, heading) {
    const items = error.problems.map((problem) => {
      const path = parsePath(problem.path);
      let owner = null;
      for (const candidate of formsWithTabs()) {
        if (hasPrefix(path, candidate.form.base) && (!owner || candidate.form.base.length > owner.form.base.length)) owner = candidate;
      }
      const pathText = problem.path && problem.path !== '(root)' ? problem.path : 'The API';
      if (!owner) return { where: pathText, message: problem.message, severity: problem.severity };
      const inside = path.slice(owner.form.base.length);
      const node = owner.form.nodeFor(inside);
      // Said on a section above the field it names (a hidden or unknown one): say which.
      const rest = formatPath(path.slice(owner.form.base.length + node.path.length));
      owner.form.placeServerProblem(inside, rest ? `${rest}: ${problem.message}` : problem.message);
      return { where: node.label ? `${node.label} (${problem.path})` : pathText, id: node.id || null, tab: owner.tab, message: problem.message, severity: problem.severity };
    });
    showSummary(heading ?? `${sentence(error.message)}${error.status ? ` (${error.status})` : ''}`, items);
  }

  // --- actions ------------------------------------------------------------------------------
  function setBusy(value) {
    busy = value;
    for (const button of [saveButton, deployButton, undeployButton, deleteButton]) button.disabled = value;
    container.setAttribute('aria-busy', String(value));
  }

  /** Takes the server's version of the API (after a save): secrets masked again, new revision. */
  function adopt(saved) {
    resource = saved;
    state.definition = structuredClone(saved.definition);
    dirty = false;
    for (const candidate of tabs) candidate.render();
    app.replaceHash(hashFor(activeTab.name));
    updateHeader();
  }

  async function save(thenDeploy) {
    if (busy) return;
    clearProblems();
    for (const candidate of tabs) candidate.collect(state.definition);
    const problems = formsWithTabs().flatMap(({ form, tab: owner }) => form.problems.map((problem) => ({ ...problem, tab: owner })));
    if (problems.length) {
      for (const form of forms()) form.revealProblems();
      updateFormStatus();
      showSummary(`Not ${thenDeploy ? 'deployed' : 'saved'}: ${problems.length} problem${problems.length === 1 ? '' : 's'} to fix first.`,
        problems.map((problem) => ({
          where: `${problem.label || 'The API'} (${formatPath(problem.path) || 'the API'})`,
          id: problem.id || null,
          tab: problem.tab,
          message: problem.message,
        })));
      return;
    }
    setBusy(true);
    let step = 'save';
    try {
      const saved = resource ? await api.updateApi(resource.id, state.definition) : await api.createApi(state.definition);
      if (!resource) sessionStorage.removeItem(DRAFT_KEY);
      const created = !resource;
      adopt(saved);
      announce(created ? `API ${saved.id} created: revision ${saved.revision}.` : `Saved: revision ${saved.revision}.`);
      if (thenDeploy) {
        step = 'deploy';
        resource.deployment = await api.deploy(resource.id);
        updateHeader();
        announce(`Deployed: revision ${resource.deployment.revision}.`);
      }
    } catch (error) {
      if (error.status === 401) return; // the router shows sign-in
      const heading = step === 'deploy'
        ? `Saved, but not deployed: ${error.message}${error.status ? ` (${error.status})` : ''}`
        : `Not saved: ${error.message}${error.status ? ` (${error.status})` : ''}`;
      showServerProblems(error, sentence(heading));
    } finally {
      setBusy(false);
    }
  }

  async function undeploy() {
    if (busy || !resource) return;
    clearProblems();
    setBusy(true);
    try {
      resource.deployment = await api.undeploy(resource.id);
      updateHeader();
      announce('Undeployed.');
    } catch (error) {
      if (error.status !== 401) showServerProblems(error, sentence(`Not undeployed: ${error.message}`));
    } finally {
      setBusy(false);
    }
  }

  async function remove() {
    if (busy || !resource) return;
    if (!window.confirm(`Delete the API ${resource.id}? It is undeployed first; this cannot be undone.`)) return;
    setBusy(true);
    try {
      await api.deleteApi(resource.id);
      dirty = false;
      app.flash(`API ${resource.id} deleted.`);
      app.navigate('#/apis');
    } catch (error) {
      if (error.status !== 401) showServerProblems(error, sentence(`Not deleted: ${error.message}`));
    } finally {
      setBusy(false);
    }
  }

  container.append(
    h('nav', { class: 'breadcrumb', 'aria-label': 'Breadcrumb' }, h('a', { href: '#/apis' }, 'APIs'), ' / ', crumb),
    h('header', { class: 'api-header' },
      h('div', {}, title, meta, status),
      h('div', { class: 'api-actions' }, h('div', { class: 'buttons' }, saveButton, deployButton, undeployButton), formStatus, deleteButton)),
    summary,
    // One form around the tabs: Enter in a field saves, as in any form.
    h('form', { id: 'api-form', novalidate: true, onsubmit: (event) => { event.preventDefault(); save(false); } }, tabList, panels));
  activate(activeTab, false);
  updateHeader();
  return { isDirty: () => dirty };
}
