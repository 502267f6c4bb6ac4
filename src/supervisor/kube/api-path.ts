// The URLs of kubexit's API calls. The namespace goes into the path and the pod name into a
// field selector; config validation refuses values that are not Kubernetes names, and these
// escape them anyway, so that no value can reach another path or select another object.

/**
 * One path segment, percent-encoded. `.` and `..` cannot be sent safely in any spelling (URL
 * parsers resolve `%2e` too), and an empty segment changes the path's shape: refused.
 */
export function pathSegment(value: string, what: string): string {
  if (value === '' || value === '.' || value === '..') {
    throw new Error(`${what} ${JSON.stringify(value)} cannot be a segment of an API path`);
  }
  return encodeURIComponent(value);
}

/** `/api/v1/namespaces/<namespace>/pods?<query>` */
export function podsPath(namespace: string, query: URLSearchParams): string {
  return `/api/v1/namespaces/${pathSegment(namespace, 'namespace')}/pods?${query}`;
}

/**
 * A field selector that matches one name: `\`, `,` and `=` in the value are escaped as the API
 * server's selector parser reads them, so a value cannot add terms of its own.
 */
export function nameSelector(name: string): string {
  return `metadata.name=${name.replace(/[\\,=]/g, (c) => `\\${c}`)}`;
}
