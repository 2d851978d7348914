// The management REST API, as the console calls it. The bearer token lives in sessionStorage
// (gone with the tab); any 401 drops it and sends the user back to sign-in.

const TOKEN_KEY = 'sluice.token';
const TOKEN_PATH = '/management/token';

export const session = {
  get token() {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  set token(value) {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  },
};

/** A refused call: the HTTP status, the server's message and its problems [{path, message, severity}]. */
export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message ?? `the management API answered ${status}`);
    this.status = status;
    this.problems = Array.isArray(body?.problems) ? body.problems : [];
  }
}

let unauthorized = () => {};

/** What to do when the token is refused (the router goes to sign-in). */
export function onUnauthorized(handler) {
  unauthorized = handler;
}

async function call(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (session.token && path !== TOKEN_PATH) headers.Authorization = `Bearer ${session.token}`;
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (error) {
    throw new ApiError(0, { message: `the management API cannot be reached (${error.message})` });
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { message: text };
    }
  }
  if (response.status === 401 && path !== TOKEN_PATH) {
    session.token = null;
    catalogue = null;
    unauthorized();
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

let catalogue = null;

const enc = encodeURIComponent;

export const api = {
  async signIn(username, password) {
    const answer = await call('POST', TOKEN_PATH, { username, password });
    session.token = answer.token;
    return answer;
  },
  signOut() {
    session.token = null;
    catalogue = null;
  },
  /** Endpoint and entrypoint types with their QoS levels and schemas; asked once per sign-in. */
  catalog() {
    catalogue ??= call('GET', '/management/catalog').catch((error) => {
      catalogue = null;
      throw error;
    });
    return catalogue;
  },
  listApis: (page = 1, perPage = 50) => call('GET', `/management/apis?page=${page}&perPage=${perPage}`),
  getApi: (id) => call('GET', `/management/apis/${enc(id)}`),
  createApi: (definition) => call('POST', '/management/apis', definition),
  updateApi: (id, definition) => call('PUT', `/management/apis/${enc(id)}`, definition),
  deleteApi: (id) => call('DELETE', `/management/apis/${enc(id)}`),
  deploy: (id) => call('POST', `/management/apis/${enc(id)}/deploy`),
  undeploy: (id) => call('POST', `/management/apis/${enc(id)}/undeploy`),
};
