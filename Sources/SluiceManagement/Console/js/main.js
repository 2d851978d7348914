// The console's entry point: a small hash router.
//   #/sign-in            sign in
//   #/apis               the APIs and the "New API" form
//   #/apis/new/<tab>     a new API, not saved yet
//   #/apis/<id>/<tab>    one API (tabs: general, entrypoints, endpoints)
// A page is an async function (container, params, app) that draws into `container` and may
// return {isDirty()} so that unsaved changes are not lost without asking; `app` lets it move on
// (navigate, signedIn) and leave a message for the next page (flash).

import { api, onUnauthorized, session } from './api.js';
import { announce, h } from './dom.js';
import { apiListPage } from './pages/apiList.js';
import { apiPage } from './pages/apiPage.js';
import { signInPage } from './pages/signIn.js';

const main = document.getElementById('main');
const nav = document.getElementById('main-nav');

const routes = [
  { pattern: /^#\/sign-in$/, open: true, page: signInPage, params: () => ({}) },
  { pattern: /^#\/apis\/?$/, page: apiListPage, params: () => ({}) },
  { pattern: /^#\/apis\/new(?:\/(\w+))?$/, page: apiPage, params: (match) => ({ id: null, tab: match[1] }) },
  { pattern: /^#\/apis\/([^/]+)(?:\/(\w+))?$/, page: apiPage, params: (match) => ({ id: decodeURIComponent(match[1]), tab: match[2] }) },
];

let current = null; // what the shown page returned
let shownHash = null;
let signInReason = null; // said on the sign-in page after a refused token
let afterSignIn = null; // where to go back after signing in

let flashed = null; // a message for the next page drawn

function navigate(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

/** Leaves the sign-in page for the page asked before it. */
function signedIn() {
  const next = afterSignIn && afterSignIn !== '#/sign-in' ? afterSignIn : '#/apis';
  afterSignIn = null;
  navigate(next);
}

const app = {
  navigate,
  signedIn,
  flash(message) { flashed = message; },
  /** Changes the address without drawing the page again (a new API got its id, a tab changed). */
  replaceHash(hash) {
    history.replaceState(null, '', hash);
    shownHash = hash;
  },
};

async function route() {
  const hash = location.hash || '#/apis';
  if (hash === shownHash) return;
  if (current?.isDirty?.() && !window.confirm('This page has unsaved changes. Leave it anyway?')) {
    // Put the address back without drawing the page again.
    history.replaceState(null, '', shownHash);
    return;
  }
  const found = routes.map((entry) => ({ entry, match: entry.pattern.exec(hash) })).find(({ match }) => match);
  if (!found) {
    navigate('#/apis');
    return;
  }
  if (!found.entry.open && !session.token) {
    afterSignIn = hash;
    navigate('#/sign-in');
    return;
  }
  shownHash = hash;
  current = null;
  document.getElementById('announcer').textContent = '';
  nav.hidden = !session.token || found.entry.open;
  main.replaceChildren(h('p', { class: 'loading' }, 'Loading…'));
  main.setAttribute('aria-busy', 'true');
  const container = h('div', { class: 'page' });
  try {
    const params = found.entry.params(found.match);
    if (found.entry.page === signInPage) {
      Object.assign(params, { reason: signInReason, next: afterSignIn });
      signInReason = null;
    }
    current = (await found.entry.page(container, params, app)) ?? null;
    if (location.hash !== hash && location.hash !== '') return; // the page moved on already
    main.replaceChildren(container);
  } catch (error) {
    if (error.status === 401) return; // on the way to sign-in
    main.replaceChildren(h('div', { class: 'page' },
      h('h1', { tabindex: '-1' }, 'Something went wrong'),
      h('p', { class: 'form-error', role: 'alert' }, error.message),
      h('p', {}, h('a', { href: '#/apis' }, 'Back to the APIs'))));
  } finally {
    main.removeAttribute('aria-busy');
  }
  // Move focus to the new page's heading, so keyboard and screen reader users start there.
  const heading = main.querySelector('h1');
  if (heading) {
    heading.setAttribute('tabindex', '-1');
    heading.focus({ preventScroll: true });
    document.title = `${heading.textContent} · Sluice console`;
  }
  if (flashed) announce(flashed);
  flashed = null;
}

onUnauthorized(() => {
  if (shownHash && shownHash !== '#/sign-in') afterSignIn = shownHash;
  signInReason = 'Your session has ended: sign in again.';
  current = null; // nothing can be saved without a token
  navigate('#/sign-in');
});

document.getElementById('sign-out').addEventListener('click', () => {
  if (current?.isDirty?.() && !window.confirm('This page has unsaved changes. Sign out anyway?')) return;
  current = null;
  api.signOut();
  afterSignIn = null;
  navigate('#/sign-in');
});

// The skip link moves focus without touching the address (which the router owns).
document.getElementById('skip-link').addEventListener('click', (event) => {
  event.preventDefault();
  (main.querySelector('h1') ?? main).focus();
});

window.addEventListener('beforeunload', (event) => {
  if (current?.isDirty?.()) event.preventDefault();
});

window.addEventListener('hashchange', route);
route();
