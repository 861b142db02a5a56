import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import semver from 'semver';

/**
 * What `npm ci` would warn about, read from the lockfile: a package whose `engines.node` the project's own
 * `engines` does not cover (EBADENGINE), and a peer dependency the tree does not satisfy (ERESOLVE), unless
 * package.json overrides that peer on purpose.
 */
const ROOT = join(__dirname, '..', '..');

interface LockedPackage {
  version?: string;
  engines?: Record<string, string> | string[];
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}
interface Manifest {
  engines: { node: string };
  overrides?: Record<string, string | Record<string, string>>;
}

const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Manifest;
const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, LockedPackage>;
};
const installed = Object.entries(lock.packages).filter(([path]) => path.startsWith('node_modules/'));

/** The package a `require(name)` from `path` finds: the nearest node_modules up the tree. */
function resolveFrom(path: string, name: string): LockedPackage | undefined {
  let dir = path;
  for (;;) {
    const found = lock.packages[`${dir}/node_modules/${name}`];
    if (found) return found;
    const up = dir.lastIndexOf('/node_modules/');
    if (up < 0) return lock.packages[`node_modules/${name}`];
    dir = dir.slice(0, up);
  }
}

function nameOf(path: string): string {
  return path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length);
}

describe('the dependency tree and package.json engines', () => {
  it('holds the project to Node versions every installed package supports', () => {
    const oldest = semver.minVersion(manifest.engines.node);
    expect(oldest).not.toBeNull();
    const refusing = installed.flatMap(([path, pkg]) => {
      const range = Array.isArray(pkg.engines) ? undefined : pkg.engines?.node;
      if (!range || semver.satisfies(oldest!, range, { includePrerelease: true })) return [];
      return [`${nameOf(path)}@${pkg.version ?? '?'} needs node ${range}`];
    });
    expect(refusing).toEqual([]);
  });

  it('satisfies every peer dependency (ERESOLVE), or overrides it on purpose', () => {
    const unmet = installed.flatMap(([path, pkg]) =>
      Object.entries(pkg.peerDependencies ?? {}).flatMap(([peer, range]) => {
        const override = manifest.overrides?.[nameOf(path)];
        if (typeof override === 'object' && peer in override) return [];
        const found = resolveFrom(path, peer);
        if (!found)
          return pkg.peerDependenciesMeta?.[peer]?.optional ? [] : [`${nameOf(path)}: ${peer} missing`];
        return found.version && semver.satisfies(found.version, range, { includePrerelease: true })
          ? []
          : [`${nameOf(path)} wants ${peer}@${range}, the tree has ${found.version ?? '?'}`];
      }),
    );
    expect(unmet).toEqual([]);
  });
});
