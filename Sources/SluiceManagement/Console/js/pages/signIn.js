// Sign-in: user name and password for a bearer token (POST /management/token).

import { api } from '../api.js';
import { h } from '../dom.js';

export async function signInPage(container, { reason }, app) {
  const error = h('p', { id: 'sign-in-error', class: 'form-error', role: 'alert' }, reason ?? '');
  const username = h('input', { id: 'username', name: 'username', autocomplete: 'username', required: true, value: 'admin', spellcheck: 'false' });
  const password = h('input', { id: 'password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const submit = h('button', { type: 'submit', class: 'primary', id: 'sign-in-submit' }, 'Sign in');

  async function signIn(event) {
    event.preventDefault();
    if (!username.value.trim() || !password.value) {
      error.textContent = 'Enter the user name and the password.';
      (username.value.trim() ? password : username).focus();
      return;
    }
    submit.disabled = true;
    error.textContent = '';
    try {
      await api.signIn(username.value.trim(), password.value);
      app.signedIn();
    } catch (failure) {
      error.textContent = failure.status === 401 ? 'Wrong user name or password.' : `Cannot sign in: ${failure.message}.`;
      password.focus();
      password.select();
    } finally {
      submit.disabled = false;
    }
  }

  container.append(h('section', { class: 'sign-in', 'aria-labelledby': 'sign-in-title' },
    h('h1', { id: 'sign-in-title' }, 'Sign in'),
    h('p', { class: 'hint' }, 'The management API of this Sluice gateway.'),
    h('form', { id: 'sign-in-form', novalidate: true, onsubmit: signIn },
      h('div', { class: 'field' }, h('label', { for: 'username' }, 'User name'), username),
      h('div', { class: 'field' }, h('label', { for: 'password' }, 'Password'), password),
      error,
      h('div', { class: 'actions' }, submit))));
  return null;
}
