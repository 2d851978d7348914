// What the catalogue (GET /management/catalog) says about connector types, and the definition
// of a new API.

/** QoS levels in the order the console lists them. */
export const QOS_LEVELS = ['none', 'auto', 'at-most-once', 'at-least-once'];

export function endpointType(catalog, type) {
  return catalog.endpoints.find((entry) => entry.type === type);
}

export function entrypointType(catalog, type) {
  return catalog.entrypoints.find((entry) => entry.type === type);
}

/** The endpoint type an API's entrypoints talk to: its first endpoint group's (as the gateway). */
export function apiEndpointType(catalog, definition) {
  const type = definition.endpointGroups?.[0]?.type;
  return type ? endpointType(catalog, type) : undefined;
}

/**
 * The QoS levels an entrypoint may run at in front of an endpoint: those both offer.
 * Without a known endpoint, the entrypoint's own.
 */
export function commonQos(entrypoint, endpoint) {
  const offered = entrypoint?.qos ?? QOS_LEVELS;
  const levels = endpoint ? offered.filter((level) => endpoint.qos.includes(level)) : offered;
  return QOS_LEVELS.filter((level) => levels.includes(level)).concat(levels.filter((level) => !QOS_LEVELS.includes(level)));
}

/** The level a new entrypoint starts at: auto where it can, else the first both offer. */
export function defaultQos(levels) {
  return levels.includes('auto') ? 'auto' : levels[0];
}

/**
 * The definition of a new API from a name, a path and an endpoint type: the shape the server
 * makes from the same fields (POST /management/apis with `endpointType`): one HTTP listener with
 * every HTTP entrypoint, one endpoint group with one endpoint, and an open (key-less) plan.
 * It is kept in the browser until its first save, as the server stores only complete APIs.
 */
export function newApiDefinition({ name, path, endpointType: type }, catalog) {
  const endpoint = endpointType(catalog, type);
  const entrypoints = catalog.entrypoints
    .filter((entry) => (entry.listenerType ?? 'http') === 'http')
    .map((entry) => ({ entry, levels: commonQos(entry, endpoint) }))
    .filter(({ levels }) => levels.length > 0)
    .map(({ entry, levels }) => ({ type: entry.type, qos: defaultQos(levels) }));
  return {
    name,
    apiVersion: '1.0',
    definitionVersion: '4.0.0',
    type: 'message',
    listeners: [{ type: 'http', paths: [{ path }], entrypoints }],
    endpointGroups: [{
      name: 'default',
      type,
      sharedConfiguration: {},
      endpoints: [{ name: 'default', type, inheritConfiguration: true, configuration: {} }],
    }],
    plans: [{ name: 'open', security: { type: 'key-less' }, status: 'published' }],
  };
}

/** A name not yet used among `taken`: `base`, `base-2`, `base-3`... */
export function freshName(base, taken) {
  if (!taken.includes(base)) return base;
  let number = 2;
  while (taken.includes(`${base}-${number}`)) number += 1;
  return `${base}-${number}`;
}
