/**
 * A container's environment as the kubelet builds it from a rendered pod spec: every key of each envFrom
 * Secret / ConfigMap first, then `env` in order (a later name replaces an earlier one), `valueFrom.secretKeyRef`
 * and `configMapKeyRef` looked up, and dependent variables expanded: `$(NAME)` becomes the value of NAME if it
 * was defined before (else stays as written), `$$` is a literal `$`. Values are never expanded twice.
 */

export interface ContainerEnvSpec {
  env?: Array<{
    name: string;
    value?: string;
    valueFrom?: {
      secretKeyRef?: { name: string; key: string; optional?: boolean };
      configMapKeyRef?: { name: string; key: string; optional?: boolean };
    };
  }>;
  envFrom?: Array<{ secretRef?: { name: string; optional?: boolean }; configMapRef?: { name: string; optional?: boolean } }>;
}

/** Name -> data (decoded) of the Secrets and ConfigMaps in the namespace. */
export interface ClusterData {
  secrets: Record<string, Record<string, string>>;
  configMaps?: Record<string, Record<string, string>>;
}

/** Kubernetes' expansion (third_party/forked/golang/expansion). */
export function expand(input: string, defined: ReadonlyMap<string, string>): string {
  let out = '';
  for (let i = 0; i < input.length; i++) {
    const c = input[i]!;
    if (c !== '$' || i + 1 >= input.length) {
      out += c;
      continue;
    }
    const next = input[i + 1]!;
    if (next === '$') {
      out += '$';
      i++;
    } else if (next === '(') {
      const close = input.indexOf(')', i + 2);
      if (close === -1) {
        out += input.slice(i);
        break;
      }
      const name = input.slice(i + 2, close);
      out += defined.get(name) ?? `$(${name})`;
      i = close;
    } else {
      out += c;
    }
  }
  return out;
}

export function podEnv(container: ContainerEnvSpec, cluster: ClusterData): Record<string, string> {
  const env = new Map<string, string>();
  const source = (kind: 'Secret' | 'ConfigMap', name: string, optional = false): Record<string, string> => {
    const data = (kind === 'Secret' ? cluster.secrets : (cluster.configMaps ?? {}))[name];
    if (!data && !optional) throw new Error(`the pod would not start: ${kind} "${name}" is not in the namespace`);
    return data ?? {};
  };
  for (const from of container.envFrom ?? []) {
    const data = from.secretRef
      ? source('Secret', from.secretRef.name, from.secretRef.optional)
      : from.configMapRef
        ? source('ConfigMap', from.configMapRef.name, from.configMapRef.optional)
        : undefined;
    if (!data) throw new Error(`an envFrom entry this helper does not know: ${JSON.stringify(from)}`);
    for (const [key, value] of Object.entries(data)) env.set(key, value);
  }
  for (const entry of container.env ?? []) {
    if (entry.valueFrom) {
      const ref = entry.valueFrom.secretKeyRef ?? entry.valueFrom.configMapKeyRef;
      if (!ref) throw new Error(`a valueFrom this helper does not know: ${JSON.stringify(entry.valueFrom)}`);
      const data = source(entry.valueFrom.secretKeyRef ? 'Secret' : 'ConfigMap', ref.name, ref.optional);
      const value = data[ref.key];
      if (value === undefined && !ref.optional) {
        throw new Error(`the pod would not start: key "${ref.key}" is not in "${ref.name}"`);
      }
      if (value !== undefined) env.set(entry.name, value);
    } else {
      env.set(entry.name, expand(entry.value ?? '', env));
    }
  }
  return Object.fromEntries(env);
}
