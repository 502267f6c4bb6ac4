// `kubexit inject --rbac`: the ServiceAccount, Role and RoleBinding that a pod's kubexits need
// to read the pod's status (birth dependencies through the API), and nothing more: get, list
// and watch on the pods of the pod's own namespace.
import { Document, isMap, isSeq, Scalar, YAMLSeq, type YAMLMap } from 'yaml';
import { text, type Source } from './manifest.js';

export const ROLE = 'kubexit-pod-reader';
const RBAC_API = 'rbac.authorization.k8s.io';

/** A pod's need: its service account, in its namespace (undefined: left to kubectl/kustomize). */
export interface RbacNeed {
  serviceAccount: string;
  namespace: string | undefined;
}

interface ObjectId {
  kind: string;
  name: string;
  namespace: string | undefined;
}

/** The objects already in the input (List items too), so that none is made twice. */
export class ObjectIndex {
  private readonly ids: ObjectId[] = [];

  constructor(sources: readonly Source[]) {
    for (const source of sources)
      for (const doc of source.docs) if (isMap(doc.contents)) this.collect(doc.contents);
  }

  private collect(object: YAMLMap): void {
    const kind = text(object.get('kind')) ?? '';
    const items = object.get('items');
    if (kind.endsWith('List') && isSeq(items)) {
      for (const item of items.items) if (isMap(item)) this.collect(item);
      return;
    }
    const metadata = object.get('metadata');
    if (!isMap(metadata)) return;
    const name = text(metadata.get('name'));
    if (name !== undefined) this.add({ kind, name, namespace: text(metadata.get('namespace')) });
  }

  has(id: ObjectId): boolean {
    // An object without a namespace gets the one kubectl or kustomize applies it to.
    return this.ids.some(
      (o) =>
        o.kind === id.kind &&
        o.name === id.name &&
        (o.namespace === undefined || id.namespace === undefined || o.namespace === id.namespace),
    );
  }

  add(id: ObjectId): void {
    this.ids.push(id);
  }
}

/** The objects `need` still lacks, as YAML documents; they are then in `index`. */
export function rbacDocuments(need: RbacNeed, index: ObjectIndex): Document[] {
  const { serviceAccount, namespace } = need;
  const metadata = (name: string) => (namespace === undefined ? { name } : { name, namespace });
  const wanted: { id: ObjectId; value: Record<string, unknown>; comment?: string }[] = [];
  // "default" is there in every namespace.
  if (serviceAccount !== 'default')
    wanted.push({
      id: { kind: 'ServiceAccount', name: serviceAccount, namespace },
      value: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: metadata(serviceAccount) },
    });
  wanted.push({
    id: { kind: 'Role', name: ROLE, namespace },
    comment:
      " What kubexit's birth dependencies need, and nothing more: read this namespace's pods.",
    value: {
      apiVersion: `${RBAC_API}/v1`,
      kind: 'Role',
      metadata: metadata(ROLE),
      rules: [{ apiGroups: words(''), resources: words('pods'), verbs: words('get list watch') }],
    },
  });
  const binding = `${serviceAccount}-pod-reader`;
  wanted.push({
    id: { kind: 'RoleBinding', name: binding, namespace },
    value: {
      apiVersion: `${RBAC_API}/v1`,
      kind: 'RoleBinding',
      metadata: metadata(binding),
      roleRef: { apiGroup: RBAC_API, kind: 'Role', name: ROLE },
      subjects: [{ kind: 'ServiceAccount', name: serviceAccount }],
    },
  });
  const docs: Document[] = [];
  for (const { id, value, comment } of wanted) {
    if (index.has(id)) continue;
    index.add(id);
    const doc = new Document(value);
    if (comment !== undefined && doc.contents) doc.contents.commentBefore = comment;
    docs.push(doc);
  }
  return docs;
}

/** A flow list of quoted words, as the examples write rules: ['get', 'list', 'watch']. */
function words(list: string): YAMLSeq {
  const seq = new YAMLSeq();
  seq.flow = true;
  for (const word of list === '' ? [''] : list.split(' ')) {
    const s = new Scalar(word);
    s.type = Scalar.QUOTE_SINGLE;
    seq.items.push(s);
  }
  return seq;
}
