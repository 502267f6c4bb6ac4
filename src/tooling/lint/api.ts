// Birth dependencies that read the pod from the Kubernetes API: the pod's name and namespace
// from the downward API, a service account with a token, and (when the input holds the RBAC
// objects) the verbs the wait needs on pods.
import { isMap, isSeq, type Node, type YAMLMap } from 'yaml';
import { usesApi } from '../../supervisor/config.js';
import { text, type Source } from '../manifest.js';
import { mapsOf, nodeAt, type Report, stringsOf } from './findings.js';
import { landing, type Pod } from './pod.js';

const NEEDED_VERBS = ['get', 'list', 'watch'];

interface Role {
  source: Source;
  kind: string;
  name: string;
  namespace: string | undefined;
  node: YAMLMap;
}

interface Binding {
  source: Source;
  kind: string;
  name: string;
  namespace: string | undefined;
  roleKind: string;
  roleName: string;
  subjects: { name: string; namespace: string | undefined }[];
}

/** The RBAC objects of the whole input (every file): a pod's account may be bound elsewhere. */
export class Rbac {
  /** Roles by `kind/name`, bindings by the service accounts they bind: no scans per pod. */
  readonly roles = new Map<string, Role[]>();
  readonly bindings = new Map<string, Binding[]>();
  readonly accounts = new Set<string>();
  /** Each account (in a namespace) is judged once, however many pods share it. */
  readonly judged = new Set<string>();
  readonly reported = new Set<string>();

  add(source: Source): void {
    for (const doc of source.docs) if (isMap(doc.contents)) this.addObject(source, doc.contents);
  }

  private addObject(source: Source, object: YAMLMap): void {
    const kind = text(object.get('kind')) ?? '';
    if (kind.endsWith('List')) {
      const items = object.get('items');
      if (isSeq(items)) for (const i of items.items) if (isMap(i)) this.addObject(source, i);
      return;
    }
    const metadata = object.get('metadata');
    const name = isMap(metadata) ? (text(metadata.get('name')) ?? '') : '';
    const namespace = isMap(metadata) ? text(metadata.get('namespace')) : undefined;
    if (kind === 'ServiceAccount') this.accounts.add(name);
    else if (kind === 'Role' || kind === 'ClusterRole') {
      const key = `${kind}/${name}`;
      this.roles.set(key, [
        ...(this.roles.get(key) ?? []),
        { source, kind, name, namespace, node: object },
      ]);
    } else if (kind === 'RoleBinding' || kind === 'ClusterRoleBinding') {
      const ref = object.get('roleRef');
      const binding: Binding = {
        source,
        kind,
        name,
        namespace,
        roleKind: isMap(ref) ? (text(ref.get('kind')) ?? '') : '',
        roleName: isMap(ref) ? (text(ref.get('name')) ?? '') : '',
        subjects: mapsOf(object, 'subjects')
          .filter((s) => text(s.get('kind')) === 'ServiceAccount')
          .map((s) => ({ name: text(s.get('name')) ?? '', namespace: text(s.get('namespace')) })),
      };
      for (const account of new Set(binding.subjects.map((s) => s.name)))
        this.bindings.set(account, [...(this.bindings.get(account) ?? []), binding]);
    }
  }
}

/** Namespaces left out (kustomize sets them later) match anything. */
const sameNamespace = (a: string | undefined, b: string | undefined): boolean =>
  a === undefined || b === undefined || a === b;

export function checkApi(pod: Pod, rbac: Rbac, reportFor: (s: Source) => Report): void {
  const users = pod.kubexits.filter((k) => k.config !== undefined && usesApi(k.config));
  if (users.length === 0) return;
  for (const { container } of users) {
    downward(pod, container.env.get('KUBEXIT_POD_NAME')?.node, 'KUBEXIT_POD_NAME', 'metadata.name');
    downward(
      pod,
      container.env.get('KUBEXIT_NAMESPACE')?.node,
      'KUBEXIT_NAMESPACE',
      'metadata.namespace',
    );
  }
  const { spec } = pod.template;
  const accountNode = nodeAt(spec, 'serviceAccountName') ?? nodeAt(spec, 'serviceAccount');
  const account = text(accountNode) ?? 'default';
  const why = `container ${users[0]?.container.name}'s birth dependencies read the pod from the API`;
  if (account === 'default') {
    pod.report.warning(
      'service-account',
      accountNode ?? spec,
      `${why} as service account "default"${accountNode ? '' : ' (serviceAccountName is not set)'}: give the pod its own account, allowed to get, list and watch pods`,
    );
  }
  const automount = nodeAt(spec, 'automountServiceAccountToken');
  if (text(automount) === 'false') {
    const mounted = users.every(
      ({ container, config }) =>
        landing(container, (config as { serviceAccountDir: string }).serviceAccountDir) !==
        undefined,
    );
    if (!mounted)
      pod.report.warning(
        'service-account',
        automount,
        `automountServiceAccountToken is false, but ${why}: kubexit finds no token to read it with`,
      );
  }
  if (account !== 'default') checkRbac(pod, rbac, account, accountNode, reportFor);
}

function downward(pod: Pod, entry: YAMLMap | undefined, variable: string, field: string): void {
  if (entry === undefined) return;
  const from = entry.get('valueFrom');
  const fieldPath = isMap(from) ? text(from.getIn(['fieldRef', 'fieldPath'])) : undefined;
  if (fieldPath === field) return;
  const fieldNode = isMap(from) ? (from.getIn(['fieldRef', 'fieldPath'], true) as Node) : undefined;
  const at: Node = fieldNode ?? nodeAt(entry, 'valueFrom') ?? nodeAt(entry, 'value') ?? entry;
  const want = `valueFrom: {fieldRef: {fieldPath: ${field}}}`;
  if (isMap(from)) {
    const what =
      fieldPath !== undefined
        ? `fieldRef ${fieldPath}`
        : `${String(from.items[0]?.key ?? 'elsewhere')}`;
    pod.report.error(
      'downward-api',
      at,
      `${variable} comes from ${what}, not the pod's ${field}: use ${want}`,
    );
    return;
  }
  const literal = text(entry.get('value')) ?? '';
  if (variable === 'KUBEXIT_POD_NAME') {
    // A bare Pod may name itself; any other template's pods get generated names.
    if (pod.template.kind === 'Pod' && literal === pod.template.name) return;
    pod.report.error(
      'downward-api',
      at,
      `KUBEXIT_POD_NAME is the literal "${literal}", but ${pod.template.kind} pods get generated names: use ${want}`,
    );
  } else {
    pod.report.warning(
      'downward-api',
      at,
      `KUBEXIT_NAMESPACE is the literal "${literal}": wrong wherever the pod is created in another namespace; use ${want}`,
    );
  }
}

/** With the account's bindings in the input, the roles they bind must allow get, list, watch. */
function checkRbac(
  pod: Pod,
  rbac: Rbac,
  account: string,
  accountNode: Node | undefined,
  reportFor: (s: Source) => Report,
): void {
  const podNamespace = text(pod.template.object.getIn(['metadata', 'namespace']));
  const judged = `${account}\0${podNamespace ?? ''}`;
  if (rbac.judged.has(judged)) return;
  rbac.judged.add(judged);
  const bindings = (rbac.bindings.get(account) ?? []).filter((b) =>
    b.subjects.some(
      (s) => s.name === account && sameNamespace(s.namespace ?? b.namespace, podNamespace),
    ),
  );
  if (bindings.length === 0) {
    // Only said when the input ships the account itself: then its RBAC is expected here too.
    if (rbac.accounts.has(account) && !rbac.reported.has(`unbound ${account}`)) {
      rbac.reported.add(`unbound ${account}`);
      pod.report.warning(
        'rbac',
        accountNode,
        `no RoleBinding or ClusterRoleBinding in the input binds service account "${account}": the birth wait needs get, list and watch on pods`,
      );
    }
    return;
  }
  const granted = new Set<string>();
  const roles: Role[] = [];
  for (const b of bindings) {
    const candidates = (rbac.roles.get(`${b.roleKind}/${b.roleName}`) ?? []).filter(
      (r) => r.kind === 'ClusterRole' || sameNamespace(r.namespace, b.namespace),
    );
    // The same name in several files (a folder of examples): the binding's own file first, else
    // the last one, as applying them in order would leave it.
    const role = candidates.find((r) => r.source === b.source) ?? candidates.at(-1);
    if (role === undefined) return; // bound to a role defined elsewhere: can't judge
    roles.push(role);
    for (const verb of podVerbs(role.node)) granted.add(verb);
  }
  if (granted.has('*')) return;
  const missing = NEEDED_VERBS.filter((v) => !granted.has(v));
  if (missing.length === 0) return;
  const role = roles[0] as Role;
  const key = `${role.kind}/${role.name} ${account}`;
  if (rbac.reported.has(key)) return;
  rbac.reported.add(key);
  const names = roles.map((r) => `${r.kind} ${r.name}`).join(', ');
  const has = granted.size === 0 ? 'nothing' : [...granted].join(', ');
  reportFor(role.source).error(
    'rbac',
    nodeAt(role.node, 'rules') ?? role.node,
    `service account "${account}" (bound by ${bindings.map((b) => `${b.kind} ${b.name}`).join(', ')} to ${names}) may do ${has} on pods, but the birth wait also needs ${missing.join(', ')}`,
  );
}

/** The verbs a role's rules grant on core pods. */
function podVerbs(role: YAMLMap): string[] {
  const verbs: string[] = [];
  for (const rule of mapsOf(role, 'rules')) {
    const groups = stringsOf(rule, 'apiGroups') ?? [];
    const resources = stringsOf(rule, 'resources') ?? [];
    if (!groups.some((g) => g === '' || g === '*')) continue;
    if (!resources.some((r) => r === 'pods' || r === '*')) continue;
    verbs.push(...(stringsOf(rule, 'verbs') ?? []));
  }
  return verbs;
}
