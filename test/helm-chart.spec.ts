import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { type Manifest, manifestsOf, renderChart, type RenderedChart } from './support/helm/chart';
import { parseDuration, parseSize } from '../src/config/units';

/**
 * The Helm chart rendered in-process (test/support/helm: a Go-template renderer; no helm binary here) and its
 * output parsed as Kubernetes reads YAML, then checked for structure: what is on by default and what is not,
 * how the objects refer to each other (names, selectors, the named port), and the settings that streaming needs.
 */

const CHART = join(__dirname, '..', 'helm', 'circuit-breaker');
const DEFAULTS = parseYaml(readFileSync(join(__dirname, '..', 'config', 'default.yml'), 'utf8')) as {
  server: { body_limit: string };
  streaming: {
    protocols: { sse: { keepalive_interval: string }; websocket: { ping_interval: string } };
    error_handling: { max_stream_duration: string };
  };
};
const JWT_SECRET = 'chart-test-secret-0123456789abcdef0123';

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string } };
}
interface Container {
  name: string;
  ports: Array<{ name: string; containerPort: number; protocol: string }>;
  env: EnvVar[];
  envFrom: Array<{ secretRef?: { name: string } }>;
  volumeMounts: Array<{ name: string; mountPath: string; readOnly?: boolean }>;
  readinessProbe: { httpGet: { path: string; port: string | number } };
  livenessProbe: { httpGet: { path: string; port: string | number } };
  startupProbe: { httpGet: { path: string; port: string | number } };
}
interface DeploymentSpec {
  replicas?: number;
  selector: { matchLabels: Record<string, string> };
  template: {
    metadata: { annotations: Record<string, string>; labels: Record<string, string> };
    spec: { containers: Container[]; volumes: Array<{ name: string; secret?: { secretName: string } }> };
  };
}

function render(values: Record<string, unknown> = {}): { rendered: RenderedChart; objects: Manifest[] } {
  const rendered = renderChart(CHART, values, { name: 'cb', namespace: 'llm' });
  return { rendered, objects: manifestsOf(rendered) };
}

function one(objects: Manifest[], kind: string): Manifest {
  const found = objects.filter((o) => o.kind === kind);
  expect(found.map((o) => o.kind)).toEqual([kind]);
  return found[0]!;
}

const spec = <T>(object: Manifest): T => object.spec as T;

function container(objects: Manifest[]): Container {
  const containers = spec<DeploymentSpec>(one(objects, 'Deployment')).template.spec.containers;
  expect(containers).toHaveLength(1);
  return containers[0]!;
}

function env(objects: Manifest[]): Map<string, EnvVar> {
  return new Map(container(objects).env.map((e) => [e.name, e]));
}

/** nginx's size for the app's body_limit: the same bytes, in the largest exact unit. */
function nginxSize(bytes: number): string {
  if (bytes % 1024 ** 3 === 0) return `${bytes / 1024 ** 3}g`;
  if (bytes % 1024 ** 2 === 0) return `${bytes / 1024 ** 2}m`;
  if (bytes % 1024 === 0) return `${bytes / 1024}k`;
  return String(bytes);
}

const EVERYTHING_ON = {
  secrets: { jwtSecret: JWT_SECRET },
  containerPort: 8080,
  ingress: {
    enabled: true,
    hosts: [{ host: 'llm.example.com', paths: [{ path: '/', pathType: 'Prefix' }] }],
    tls: [{ secretName: 'llm-tls', hosts: ['llm.example.com'] }],
  },
  autoscaling: {
    enabled: true,
    minReplicas: 3,
    maxReplicas: 12,
    activeStreams: { enabled: true, averageValue: '150' },
  },
  serviceMonitor: { enabled: true, labels: { release: 'kube-prometheus-stack' }, interval: '15s' },
  networkPolicy: {
    enabled: true,
    egress: {
      redis: { port: 6380 },
      extra: [
        {
          to: [{ podSelector: { matchLabels: { app: 'ollama' } } }],
          ports: [{ port: 11434, protocol: 'TCP' }],
        },
      ],
    },
  },
  redis: {
    url: 'rediss://redis.example.com:6380/2',
    username: 'cb',
    passwordSecret: { name: 'redis-auth', key: 'password' },
  },
  extraCaCerts: { secretName: 'corp-ca', key: 'bundle.pem' },
};

describe('Helm chart helm/circuit-breaker', () => {
  describe('with default values', () => {
    const { rendered, objects } = render();
    const deployment = one(objects, 'Deployment');
    const dep = spec<DeploymentSpec>(deployment);

    it('renders the core objects and none of the optional ones', () => {
      expect(objects.map((o) => `${o.apiVersion} ${o.kind}`).sort()).toEqual([
        'apps/v1 Deployment',
        'policy/v1 PodDisruptionBudget',
        'v1 ConfigMap',
        'v1 Secret',
        'v1 Service',
        'v1 ServiceAccount',
      ]);
      for (const o of objects)
        expect(o.metadata.name).toBe('cb-circuit-breaker' + (o.kind === 'ConfigMap' ? '-config' : ''));
    });

    it('runs production with auth on, HOST=0.0.0.0, the simulated provider off, all env values strings', () => {
      const vars = env(objects);
      expect(vars.get('NODE_ENV')?.value).toBe('production');
      expect(vars.get('HOST')?.value).toBe('0.0.0.0');
      expect(vars.get('PORT')?.value).toBe('3000');
      expect(vars.get('CB__AUTH__MODE')?.value).toBe('jwt');
      expect(vars.get('CB__PROVIDERS__SIMULATED__ENABLED')?.value).toBe('false');
      // One worker process per pod unless set: a container sees its node's CPUs, not its limit.
      expect(vars.get('CB__STREAMING__PERFORMANCE__WORKER_THREADS')?.value).toBe('1');
      expect(vars.has('CB__SERVER__TRUST_PROXY')).toBe(false);
      expect(vars.has('CB__STREAMING__MONITORING__METRICS_ENABLED')).toBe(false);
      const names = container(objects).env.map((e) => e.name);
      expect(new Set(names).size).toBe(names.length);
      for (const e of container(objects).env) {
        if (e.valueFrom === undefined) expect(typeof e.value).toBe('string');
      }
    });

    it('keeps replicas on the Deployment, one named port, probes on it, and the Service aimed at it', () => {
      expect(dep.replicas).toBe(2);
      expect(container(objects).ports).toEqual([{ name: 'http', containerPort: 3000, protocol: 'TCP' }]);
      const c = container(objects);
      for (const probe of [c.readinessProbe, c.livenessProbe, c.startupProbe])
        expect(probe.httpGet.port).toBe('http');
      const service = spec<{
        ports: Array<{ name: string; targetPort: string }>;
        selector: Record<string, string>;
      }>(one(objects, 'Service'));
      expect(service.ports).toEqual([{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }]);
      expect(service.selector).toEqual(dep.selector.matchLabels);
      expect(dep.template.metadata.labels).toMatchObject(dep.selector.matchLabels);
    });

    it('annotates the pods for Prometheus with the container port, and rolls them on config and Secret changes', () => {
      const annotations = dep.template.metadata.annotations;
      expect(annotations['prometheus.io/scrape']).toBe('true');
      expect(annotations['prometheus.io/port']).toBe('3000');
      expect(annotations['prometheus.io/path']).toBe('/metrics');
      expect(annotations['checksum/config']).toMatch(/^[0-9a-f]{64}$/);
      expect(annotations['checksum/secret']).toMatch(/^[0-9a-f]{64}$/);
    });

    it('puts REDIS_URL in the chart Secret, read through envFrom', () => {
      const secret = one(objects, 'Secret') as Manifest & { data: Record<string, string> };
      expect(Buffer.from(secret.data.REDIS_URL!, 'base64').toString()).toBe('redis://redis:6379');
      expect(container(objects).envFrom).toEqual([{ secretRef: { name: secret.metadata.name } }]);
    });

    it('warns in NOTES that the JWT secret is missing', () => {
      expect(rendered.notes).toContain('auth.mode is jwt and secrets.jwtSecret is empty');
      expect(rendered.notes).toContain('http://cb-circuit-breaker.llm.svc:80');
    });
  });

  it('the metrics annotation, PORT and the container port follow containerPort', () => {
    const { objects } = render({ containerPort: 8080, secrets: { jwtSecret: JWT_SECRET } });
    const dep = spec<DeploymentSpec>(one(objects, 'Deployment'));
    expect(dep.template.metadata.annotations['prometheus.io/port']).toBe('8080');
    expect(env(objects).get('PORT')?.value).toBe('8080');
    expect(container(objects).ports[0]?.containerPort).toBe(8080);
  });

  it('pod annotations of the user win, and metrics.podAnnotations false leaves the scrape ones out', () => {
    const { objects } = render({
      secrets: { jwtSecret: JWT_SECRET },
      metrics: { podAnnotations: false },
      podAnnotations: { 'example.com/team': 'llm', 'prometheus.io/scrape': 'false' },
    });
    const annotations = spec<DeploymentSpec>(one(objects, 'Deployment')).template.metadata.annotations;
    expect(annotations['example.com/team']).toBe('llm');
    expect(annotations['prometheus.io/scrape']).toBe('false');
    expect(annotations['prometheus.io/port']).toBeUndefined();
  });

  it('metrics.enabled false turns /metrics off in the app and renders no ServiceMonitor', () => {
    const { objects } = render({
      secrets: { jwtSecret: JWT_SECRET },
      metrics: { enabled: false },
      serviceMonitor: { enabled: true },
    });
    expect(env(objects).get('CB__STREAMING__MONITORING__METRICS_ENABLED')?.value).toBe('false');
    expect(objects.some((o) => o.kind === 'ServiceMonitor')).toBe(false);
    expect(
      spec<DeploymentSpec>(one(objects, 'Deployment')).template.metadata.annotations['prometheus.io/port'],
    ).toBeUndefined();
  });

  it('providers.simulated.enabled true switches the simulated provider on explicitly', () => {
    const { objects, rendered } = render({
      secrets: { jwtSecret: JWT_SECRET },
      providers: { simulated: { enabled: true } },
    });
    expect(env(objects).get('CB__PROVIDERS__SIMULATED__ENABLED')?.value).toBe('true');
    expect(rendered.notes).toContain('"model":"simulated/echo"');
  });

  describe('with everything on (ingress with TLS, HPA on both metrics, ServiceMonitor, NetworkPolicy, Redis password from a Secret)', () => {
    const { rendered, objects } = render(EVERYTHING_ON);
    const deployment = one(objects, 'Deployment');
    const dep = spec<DeploymentSpec>(deployment);
    const service = one(objects, 'Service');
    const servicePorts = spec<{ ports: Array<{ name: string; port: number }> }>(service).ports;

    it('renders every kind with its API version', () => {
      expect(objects.map((o) => `${o.apiVersion} ${o.kind}`).sort()).toEqual([
        'apps/v1 Deployment',
        'autoscaling/v2 HorizontalPodAutoscaler',
        'monitoring.coreos.com/v1 ServiceMonitor',
        'networking.k8s.io/v1 Ingress',
        'networking.k8s.io/v1 NetworkPolicy',
        'policy/v1 PodDisruptionBudget',
        'v1 ConfigMap',
        'v1 Secret',
        'v1 Service',
        'v1 ServiceAccount',
      ]);
    });

    it('leaves replicas to the HPA, which scales the Deployment on CPU and cb_active_streams per pod', () => {
      expect('replicas' in dep).toBe(false);
      const hpa = spec<{
        scaleTargetRef: { apiVersion: string; kind: string; name: string };
        minReplicas: number;
        maxReplicas: number;
        metrics: Array<Record<string, unknown>>;
        behavior: {
          scaleDown: { stabilizationWindowSeconds: number; policies: Array<{ type: string; value: number }> };
        };
      }>(one(objects, 'HorizontalPodAutoscaler'));
      expect(hpa.scaleTargetRef).toEqual({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        name: deployment.metadata.name,
      });
      expect([hpa.minReplicas, hpa.maxReplicas]).toEqual([3, 12]);
      expect(hpa.metrics).toEqual([
        {
          type: 'Resource',
          resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } },
        },
        {
          type: 'Pods',
          pods: {
            metric: { name: 'cb_active_streams' },
            target: { type: 'AverageValue', averageValue: '150' },
          },
        },
      ]);
      // Scale-downs end pods (and cut their streams after the drain): slow, one pod at a time.
      expect(hpa.behavior.scaleDown.stabilizationWindowSeconds).toBeGreaterThanOrEqual(300);
      expect(hpa.behavior.scaleDown.policies).toEqual([expect.objectContaining({ type: 'Pods', value: 1 })]);
      // The PDB counts the HPA's minimum.
      expect(spec<{ minAvailable: number }>(one(objects, 'PodDisruptionBudget')).minAvailable).toBe(1);
    });

    it('names a metric the app really exports', () => {
      const metrics = readFileSync(join(__dirname, '..', 'src', 'analytics', 'metrics.service.ts'), 'utf8');
      expect(metrics).toMatch(/activeStreams = metric\(\s*'cb_active_streams',\s*\(name\) => new Gauge\(/);
    });

    it('routes the Ingress to the Service port, with TLS and the ingress-nginx streaming settings', () => {
      const ingress = one(objects, 'Ingress');
      const ing = spec<{
        ingressClassName: string;
        tls: Array<{ secretName: string; hosts: string[] }>;
        rules: Array<{
          host: string;
          http: {
            paths: Array<{
              path: string;
              pathType: string;
              backend: { service: { name: string; port: { name: string } } };
            }>;
          };
        }>;
      }>(ingress);
      expect(ing.ingressClassName).toBe('nginx');
      expect(ing.tls).toEqual([{ secretName: 'llm-tls', hosts: ['llm.example.com'] }]);
      expect(ing.rules).toEqual([
        {
          host: 'llm.example.com',
          http: {
            paths: [
              {
                path: '/',
                pathType: 'Prefix',
                backend: { service: { name: service.metadata.name, port: { name: 'http' } } },
              },
            ],
          },
        },
      ]);
      expect(servicePorts.map((p) => p.name)).toContain('http');

      const a = ingress.metadata.annotations ?? {};
      for (const value of Object.values(a)) expect(typeof value).toBe('string');
      expect(a['nginx.ingress.kubernetes.io/proxy-buffering']).toBe('off');
      // Idle limits above every keepalive, and above the longest silent wait (a non-streaming completion).
      const longestQuiet = Math.max(
        parseDuration(DEFAULTS.streaming.protocols.sse.keepalive_interval)!,
        parseDuration(DEFAULTS.streaming.protocols.websocket.ping_interval)!,
        parseDuration(DEFAULTS.streaming.error_handling.max_stream_duration)!,
      );
      for (const key of ['proxy-read-timeout', 'proxy-send-timeout']) {
        expect(Number(a[`nginx.ingress.kubernetes.io/${key}`]) * 1000).toBeGreaterThan(longestQuiet);
      }
      expect(a['nginx.ingress.kubernetes.io/proxy-body-size']).toBe(
        nginxSize(parseSize(DEFAULTS.server.body_limit)!),
      );
      expect(a['nginx.ingress.kubernetes.io/proxy-body-size']).toBe('1m');
      expect(rendered.notes).toContain('https://llm.example.com/');
    });

    it('sets trust_proxy behind the ingress, so the per-address connection cap does not meet the controller', () => {
      expect(env(objects).get('CB__SERVER__TRUST_PROXY')?.value).toBe('true');
    });

    it('scrapes /metrics on the Service port by name, with the labels Prometheus selects', () => {
      const sm = one(objects, 'ServiceMonitor');
      const s = spec<{
        selector: { matchLabels: Record<string, string> };
        namespaceSelector: { matchNames: string[] };
        endpoints: Array<{ port: string; path: string; interval: string }>;
      }>(sm);
      expect(sm.metadata.labels).toMatchObject({ release: 'kube-prometheus-stack' });
      expect(service.metadata.labels).toMatchObject(s.selector.matchLabels);
      expect(s.namespaceSelector.matchNames).toEqual(['llm']);
      expect(s.endpoints).toEqual([
        expect.objectContaining({ port: 'http', path: '/metrics', interval: '15s' }),
      ]);
      expect(servicePorts.map((p) => p.name)).toContain(s.endpoints[0]!.port);
    });

    it('lets only the controller and Prometheus in, and out only DNS, Redis on its port, HTTPS and the extra rule', () => {
      const np = spec<{
        podSelector: { matchLabels: Record<string, string> };
        policyTypes: string[];
        ingress: Array<{ from: Array<Record<string, unknown>>; ports: Array<{ port: string | number }> }>;
        egress: Array<{
          to?: Array<Record<string, unknown>>;
          ports: Array<{ port: number; protocol: string }>;
        }>;
      }>(one(objects, 'NetworkPolicy'));
      expect(np.podSelector.matchLabels).toEqual(dep.selector.matchLabels);
      expect(np.policyTypes).toEqual(['Ingress', 'Egress']);
      expect(np.ingress).toHaveLength(1);
      expect(np.ingress[0]!.ports).toEqual([{ port: 'http', protocol: 'TCP' }]);
      expect(np.ingress[0]!.from).toEqual([
        {
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } },
          podSelector: { matchLabels: { 'app.kubernetes.io/name': 'ingress-nginx' } },
        },
        {
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } },
          podSelector: { matchLabels: { 'app.kubernetes.io/name': 'prometheus' } },
        },
      ]);
      const ports = np.egress.map((rule) => rule.ports.map((p) => `${p.port}/${p.protocol}`).join(','));
      expect(ports).toEqual(['53/UDP,53/TCP', '6380/TCP', '443/TCP', '11434/TCP']);
      expect(np.egress[0]!.to).toEqual([
        {
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } },
          podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } },
        },
      ]);
      expect(np.egress[1]!.to).toBeUndefined(); // Redis: any address on its port
      expect(np.egress[2]!.to).toEqual([{ ipBlock: { cidr: '0.0.0.0/0' } }, { ipBlock: { cidr: '::/0' } }]);
      expect(np.egress[3]!.to).toEqual([{ podSelector: { matchLabels: { app: 'ollama' } } }]);
    });

    it('builds REDIS_URL from the password Secret with $(REDIS_PASSWORD), defined before it, and keeps it out of the chart Secret', () => {
      const list = container(objects).env;
      expect(new Set(list.map((e) => e.name)).size).toBe(list.length);
      const password = list.findIndex((e) => e.name === 'REDIS_PASSWORD');
      const url = list.findIndex((e) => e.name === 'REDIS_URL');
      expect(password).toBeGreaterThanOrEqual(0);
      expect(url).toBeGreaterThan(password);
      expect(list[password]!.valueFrom).toEqual({ secretKeyRef: { name: 'redis-auth', key: 'password' } });
      expect(list[url]!.value).toBe('rediss://cb:$(REDIS_PASSWORD)@redis.example.com:6380/2');
      const secret = one(objects, 'Secret') as Manifest & { data: Record<string, string> };
      expect(Object.keys(secret.data)).toEqual(['CB_JWT_SECRET']);
      expect(rendered.notes).toContain('password from Secret "redis-auth"');
    });

    it('mounts the extra CA bundle where NODE_EXTRA_CA_CERTS points', () => {
      const c = container(objects);
      const caFile = env(objects).get('NODE_EXTRA_CA_CERTS')?.value;
      const mount = c.volumeMounts.find((m) => m.name === 'extra-ca-certs');
      expect(mount?.readOnly).toBe(true);
      expect(caFile).toBe(`${mount?.mountPath}/bundle.pem`);
      expect(dep.template.spec.volumes.find((v) => v.name === 'extra-ca-certs')?.secret?.secretName).toBe(
        'corp-ca',
      );
    });
  });

  describe('ingress annotations', () => {
    const annotationsOf = (values: Record<string, unknown>): Record<string, string> => {
      const { objects } = render({
        secrets: { jwtSecret: JWT_SECRET },
        ingress: { enabled: true, ...values },
      });
      return one(objects, 'Ingress').metadata.annotations ?? {};
    };

    it('merges the user annotations over the defaults: theirs win, an empty one removes a default', () => {
      const a = annotationsOf({
        annotations: {
          'nginx.ingress.kubernetes.io/proxy-read-timeout': 7200,
          'nginx.ingress.kubernetes.io/proxy-buffering': '',
          'cert-manager.io/cluster-issuer': 'letsencrypt',
        },
      });
      expect(a['nginx.ingress.kubernetes.io/proxy-read-timeout']).toBe('7200');
      expect(a['nginx.ingress.kubernetes.io/proxy-send-timeout']).toBe('3600');
      expect('nginx.ingress.kubernetes.io/proxy-buffering' in a).toBe(false);
      expect(a['cert-manager.io/cluster-issuer']).toBe('letsencrypt');
    });

    it('derives proxy-body-size from config.server.body_limit', () => {
      const sizeFor = (limit: unknown): string | undefined => {
        const { objects } = render({
          secrets: { jwtSecret: JWT_SECRET },
          ingress: { enabled: true },
          config: { server: { body_limit: limit } },
        });
        return one(objects, 'Ingress').metadata.annotations?.['nginx.ingress.kubernetes.io/proxy-body-size'];
      };
      expect(sizeFor('10MB')).toBe('10m');
      expect(sizeFor('512KB')).toBe('512k');
      expect(sizeFor('2GiB')).toBe('2g');
      expect(sizeFor(1048577)).toBe('1048577');
      expect(sizeFor(1048576)).toBe('1m');
      expect(
        annotationsOf({ nginx: { proxyBodySize: '8m' } })['nginx.ingress.kubernetes.io/proxy-body-size'],
      ).toBe('8m');
      expect(() =>
        render({
          secrets: { jwtSecret: JWT_SECRET },
          ingress: { enabled: true },
          config: { server: { body_limit: '1.5MB' } },
        }),
      ).toThrow(/body_limit "1.5mb".*ingress.nginx.proxyBodySize/);
    });

    it('renders none of them with ingress.nginx.enabled false', () => {
      expect(annotationsOf({ nginx: { enabled: false } })).toEqual({});
    });
  });

  describe('refuses to render', () => {
    const refused = (values: Record<string, unknown>): string => {
      try {
        render(values);
      } catch (err) {
        return err instanceof Error ? err.message : String(err);
      }
      throw new Error(`rendered with ${JSON.stringify(values)}`);
    };

    it('auth.mode none, since the pods run NODE_ENV=production', () => {
      expect(refused({ auth: { mode: 'none' } })).toMatch(
        /execution error at .*: auth\.mode none is refused: the pods run with NODE_ENV=production/,
      );
      expect(refused({ auth: { mode: 'basic' } })).toMatch(/auth\.mode "basic" is not a mode/);
    });

    it('an HS256 secret under 32 characters, or a listen address the probes cannot reach', () => {
      expect(refused({ secrets: { jwtSecret: 'short' } })).toMatch(/at least 32 characters/);
      expect(refused({ secrets: { jwtSecret: JWT_SECRET }, listenAddress: '127.0.0.1' })).toMatch(
        /listenAddress/,
      );
      expect(refused({ secrets: { jwtSecret: JWT_SECRET }, containerPort: 70000 })).toMatch(/containerPort/);
      expect(refused({ secrets: { jwtSecret: JWT_SECRET }, workers: 0 })).toMatch(
        /workers: 0 is not a number/,
      );
    });

    it('credentials in redis.url beside passwordSecret, or an HPA without a metric', () => {
      expect(
        refused({
          secrets: { jwtSecret: JWT_SECRET },
          redis: { url: 'redis://:pw@r:6379', passwordSecret: { name: 's' } },
        }),
      ).toMatch(/redis\.url: with redis\.passwordSecret set/);
      expect(
        refused({
          secrets: { jwtSecret: JWT_SECRET },
          autoscaling: { enabled: true, targetCPUUtilizationPercentage: 0 },
        }),
      ).toMatch(/the HPA has no metric/);
    });
  });
});
