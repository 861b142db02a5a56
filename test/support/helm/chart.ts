import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { TemplateSet } from './go-template-exec';
import { fromPlain, type GoMap, type GoValue, GoStruct, isMap, TemplateError } from './go-values';
import { HELM_FUNCS } from './helm-funcs';

/**
 * `helm template` for one chart without dependencies, done in-process: Chart.yaml and values.yaml read, the
 * given values coalesced over the chart's (a null removes a key, maps merge, anything else replaces), every
 * file under templates/ parsed into one template set, each file not starting with `_` rendered with
 * .Values / .Release / .Chart / .Capabilities / .Template, "<no value>" blanked as Helm does, whitespace-only
 * output dropped, and NOTES.txt rendered apart.
 */

export interface ReleaseOptions {
  name?: string;
  namespace?: string;
  isUpgrade?: boolean;
  revision?: number;
  /** .Capabilities.KubeVersion.Version, e.g. v1.31.0. */
  kubeVersion?: string;
  /** .Capabilities.APIVersions (e.g. monitoring.coreos.com/v1). */
  apiVersions?: string[];
}

export interface RenderedChart {
  /** Rendered output per template file (e.g. circuit-breaker/templates/deployment.yaml), empty ones left out. */
  files: Map<string, string>;
  notes: string;
}

/** One Kubernetes object of the output, with the file it came from. */
export interface Manifest {
  file: string;
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

const CHART_FIELDS: Record<string, string> = {
  name: 'Name',
  version: 'Version',
  appVersion: 'AppVersion',
  description: 'Description',
  type: 'Type',
  apiVersion: 'APIVersion',
  keywords: 'Keywords',
  home: 'Home',
  sources: 'Sources',
  icon: 'Icon',
  kubeVersion: 'KubeVersion',
  deprecated: 'Deprecated',
  annotations: 'Annotations',
  maintainers: 'Maintainers',
  dependencies: 'Dependencies',
};

/** Values (and Chart.yaml) as Helm decodes them: YAML 1.1 (yes/no/on/off are booleans), numbers as float64. */
export function readYaml(text: string, what: string): GoValue {
  try {
    return fromPlain(parseYaml(text, { version: '1.1' }));
  } catch (err) {
    throw new TemplateError(`${what}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** Helm's coalescing of user values over the chart's defaults. */
export function coalesce(defaults: GoValue, overrides: GoValue): GoValue {
  if (!isMap(defaults) || !isMap(overrides)) return overrides === undefined ? defaults : overrides;
  const out: GoMap = new Map(defaults);
  for (const [key, value] of overrides) {
    if (value === null) out.delete(key);
    else {
      const base = out.get(key);
      out.set(key, base !== undefined && isMap(base) && isMap(value) ? coalesce(base, value) : value);
    }
  }
  return out;
}

function listFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) => (entry.isDirectory() ? listFiles(join(dir, entry.name)) : [join(dir, entry.name)]))
    .sort();
}

export function renderChart(chartDir: string, values: unknown = {}, options: ReleaseOptions = {}): RenderedChart {
  const chartYaml = readYaml(readFileSync(join(chartDir, 'Chart.yaml'), 'utf8'), 'Chart.yaml');
  if (!isMap(chartYaml)) throw new TemplateError('Chart.yaml is not a map');
  const chartName = chartYaml.get('name');
  if (typeof chartName !== 'string') throw new TemplateError('Chart.yaml has no name');
  const chartFields = new Map<string, GoValue>(Object.values(CHART_FIELDS).map((field) => [field, null]));
  for (const [key, value] of chartYaml) {
    const field = CHART_FIELDS[key];
    if (!field) throw new TemplateError(`Chart.yaml: unknown field ${key}`);
    chartFields.set(field, value);
  }
  for (const field of ['Version', 'AppVersion', 'Description', 'Type', 'Home', 'Icon', 'KubeVersion']) {
    if (chartFields.get(field) === null) chartFields.set(field, '');
  }
  const chart = new GoStruct('*chart.Metadata', chartFields);

  const defaults = readYaml(readFileSync(join(chartDir, 'values.yaml'), 'utf8'), 'values.yaml');
  const merged = coalesce(defaults ?? new Map(), fromPlain(values));

  const kubeVersion = options.kubeVersion ?? 'v1.31.0';
  const [major = '', minor = ''] = kubeVersion.replace(/^v/, '').split('.');
  const apiVersions = new Set(options.apiVersions ?? []);
  const capabilities = new GoStruct(
    '*chartutil.Capabilities',
    new Map<string, GoValue>([
      [
        'KubeVersion',
        new GoStruct(
          'chartutil.KubeVersion',
          new Map<string, GoValue>([
            ['Version', kubeVersion],
            ['Major', major],
            ['Minor', minor],
            ['GitVersion', kubeVersion],
          ]),
        ),
      ],
      [
        'APIVersions',
        new GoStruct('chartutil.VersionSet', new Map(), new Map([['Has', ([v]) => typeof v === 'string' && apiVersions.has(v)]])),
      ],
    ]),
  );
  const release: GoMap = new Map<string, GoValue>([
    ['Name', options.name ?? 'release-name'],
    ['Namespace', options.namespace ?? 'default'],
    ['IsUpgrade', options.isUpgrade ?? false],
    ['IsInstall', !(options.isUpgrade ?? false)],
    ['Revision', BigInt(options.revision ?? 1)],
    ['Service', 'Helm'],
  ]);

  const templatesDir = join(chartDir, 'templates');
  const set = new TemplateSet(HELM_FUNCS);
  const names = listFiles(templatesDir).map((file) => {
    const name = [chartName, 'templates', ...relative(templatesDir, file).split(sep)].join('/');
    set.add(name, readFileSync(file, 'utf8'));
    return name;
  });

  const files = new Map<string, string>();
  let notes = '';
  for (const name of names) {
    const base = name.slice(name.lastIndexOf('/') + 1);
    if (base.startsWith('_')) continue;
    const top: GoMap = new Map<string, GoValue>([
      ['Values', merged],
      ['Release', release],
      ['Chart', chart],
      ['Capabilities', capabilities],
      ['Template', new Map<string, GoValue>([['Name', name], ['BasePath', `${chartName}/templates`]])],
      ['Files', new Map()],
    ]);
    const text = set.execute(name, top).replaceAll('<no value>', '');
    if (base === 'NOTES.txt') notes = text;
    else if (text.trim() !== '') files.set(name, text);
  }
  return { files, notes };
}

/** Every YAML document of the output parsed (YAML 1.1, as the API server's decoder reads it); none may be broken. */
export function manifestsOf(rendered: RenderedChart): Manifest[] {
  const out: Manifest[] = [];
  for (const [file, text] of rendered.files) {
    for (const doc of parseAllDocuments(text, { version: '1.1', uniqueKeys: true })) {
      if (doc.errors.length > 0) {
        throw new TemplateError(`${file}: ${doc.errors.map((e) => e.message).join('; ')}\n${text}`);
      }
      const value: unknown = doc.toJS();
      if (value === null || value === undefined) continue;
      const object = value as Partial<Manifest>;
      if (typeof object.apiVersion !== 'string' || typeof object.kind !== 'string' || !object.metadata?.name) {
        throw new TemplateError(`${file}: a document without apiVersion, kind or metadata.name:\n${text}`);
      }
      out.push({ ...(object as Manifest), file });
    }
  }
  return out;
}
