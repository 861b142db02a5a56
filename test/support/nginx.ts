import { type ChildProcess, spawn } from 'node:child_process';
import {
  accessSync,
  chmodSync,
  constants,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { freePort } from '../../src/common/testing/free-port';
import { waitFor } from './wait';

/** The file users drop in /etc/nginx/conf.d and docker-compose.yml mounts. */
export const SHIPPED_CONF = join(__dirname, '..', '..', 'deploy', 'nginx', 'circuit-breaker.conf');

/**
 * The shipped config with only what differs here replaced: the two node addresses (compose service names
 * there) and the listen port. Fails when the file no longer has the expected shape, so what runs here is
 * what ships.
 */
export function renderShippedConf(nodes: [string, string], port: number): string {
  let text = readFileSync(SHIPPED_CONF, 'utf8');
  const replace = (from: string, to: string, times: number) => {
    const found = text.split(from).length - 1;
    if (found !== times)
      throw new Error(`expected "${from}" ${times} times in ${SHIPPED_CONF}, found ${found}`);
    text = text.split(from).join(to);
  };
  replace('router-1:3000', nodes[0], 2); // primary and backup
  replace('router-2:3000', nodes[1], 2);
  replace('listen 80;', `listen 127.0.0.1:${port};`, 1);
  return text;
}

/** Where nginx may be when it is not on PATH (Debian puts it in /usr/sbin, which a non-root PATH may lack). */
const NGINX_PLACES = [
  '/usr/sbin/nginx',
  '/usr/local/sbin/nginx',
  '/usr/local/nginx/sbin/nginx',
  '/opt/homebrew/bin/nginx',
];

/** The nginx binary: on PATH or in one of the usual places; undefined when there is none. */
export function findNginx(): string | undefined {
  const onPath = (process.env.PATH ?? '')
    .split(delimiter)
    .filter(Boolean)
    .map((dir) => join(dir, 'nginx'));
  return [...onPath, ...NGINX_PLACES].find((file) => {
    try {
      accessSync(file, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** One line of the test's access log (log_format `cbtest` below). */
export interface AccessEntry {
  /** The client's X-Request-ID. */
  id: string;
  status: number;
  /** Every node tried, in order, e.g. ["127.0.0.1:4001", "127.0.0.1:4002"] after a retry. */
  upstreams: string[];
  /** Each try's status, e.g. ["503", "200"] ("502" for a connection that failed). */
  upstreamStatuses: string[];
  method: string;
  uri: string;
}

export interface NginxProcess {
  /** http://127.0.0.1:<port> */
  url: string;
  child: ChildProcess;
  /** What nginx logged to its access log so far. */
  accessLog(): AccessEntry[];
  /** Its error log so far. */
  errorLog(): string;
  /** Stops nginx (fast shutdown) and removes its directory. */
  stop(): Promise<void>;
}

const LOG_FORMAT =
  `log_format cbtest escape=json '{"id":"$http_x_request_id","status":"$status","upstream":"$upstream_addr",` +
  `"upstream_status":"$upstream_status","method":"$request_method","uri":"$uri"}';`;

/**
 * Runs `binary` in the foreground (`nginx -p <dir> -c <dir>/nginx.conf -g 'daemon off;'`) with everything it
 * writes (pid, logs, temp files) in a fresh temp directory, on a free loopback port. `site(port)` is the text
 * included in the `http` block: the server under test, listening on that port. Resolves once a request to
 * `readyPath` through nginx answers 200.
 */
export async function startNginx(
  binary: string,
  site: (port: number) => string,
  readyPath = '/health/live',
): Promise<NginxProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'cb-nginx-'));
  chmodSync(dir, 0o755); // nginx's workers drop root and must reach their temp directories
  const port = await freePort();
  writeFileSync(join(dir, 'site.conf'), site(port));
  writeFileSync(
    join(dir, 'nginx.conf'),
    [
      'worker_processes 1;',
      `pid ${dir}/nginx.pid;`,
      `error_log ${dir}/error.log warn;`,
      'events { worker_connections 1024; }',
      'http {',
      `  ${LOG_FORMAT}`,
      `  access_log ${dir}/access.log cbtest;`,
      ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(
        (kind) => `  ${kind}_temp_path ${dir}/${kind};`,
      ),
      `  include ${dir}/site.conf;`,
      '}',
      '',
    ].join('\n'),
  );
  const child = spawn(
    binary,
    ['-p', `${dir}/`, '-e', `${dir}/error.log`, '-c', `${dir}/nginx.conf`, '-g', 'daemon off;'],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let gone = false;
  void exited.then(() => (gone = true));

  const errorLog = () =>
    existsSync(join(dir, 'error.log')) ? readFileSync(join(dir, 'error.log'), 'utf8') : '';
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (!gone) {
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      `nginx to answer ${readyPath}`,
      async () => {
        if (gone) throw new Error(`nginx exited: ${stderr}\n${errorLog()}`);
        const res = await fetch(`${url}${readyPath}`).catch(() => undefined);
        return res?.status === 200;
      },
      10_000,
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    url,
    child,
    errorLog,
    accessLog: () => {
      const file = join(dir, 'access.log');
      if (!existsSync(file)) return [];
      return readFileSync(file, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => toEntry(JSON.parse(line) as Record<string, string>));
    },
    stop,
  };
}

function toEntry(raw: Record<string, string>): AccessEntry {
  const list = (value: string | undefined) =>
    (value ?? '')
      .split(/\s*,\s*|\s+:\s+/)
      .map((s) => s.trim())
      .filter((s) => s !== '' && s !== '-');
  return {
    id: raw.id ?? '',
    status: Number(raw.status),
    upstreams: list(raw.upstream),
    upstreamStatuses: list(raw.upstream_status),
    method: raw.method ?? '',
    uri: raw.uri ?? '',
  };
}
