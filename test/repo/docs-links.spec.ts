import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { anchorsOf, checkLinks, headingText, linksOf, slugOf } from '../support/markdown-links';

/**
 * The documentation's relative links resolve: README.md, docs/*.md and the Helm chart's README, each link to an
 * existing file and, with an anchor, to a heading of it (GitHub's slugs). External links are not fetched.
 */

const ROOT = join(__dirname, '..', '..');
const DOCS = join(ROOT, 'docs');
const docsPages = readdirSync(DOCS)
  .filter((name) => name.endsWith('.md'))
  .sort();
const FILES = ['README.md', ...docsPages.map((name) => `docs/${name}`), 'helm/circuit-breaker/README.md'];

describe('links of the documentation', () => {
  it.each(FILES)('%s: every relative link names an existing file and heading', (file) => {
    expect(checkLinks(join(ROOT, file), ROOT)).toEqual([]);
  });

  it('has pages to check, and the README links every one of them', () => {
    expect(docsPages.length).toBeGreaterThan(5);
    const linked = new Set(
      linksOf(readFileSync(join(ROOT, 'README.md'), 'utf8')).map(({ target }) => target.split('#')[0]),
    );
    expect(docsPages.filter((name) => !linked.has(`docs/${name}`))).toEqual([]);
  });
});

describe('the link checker', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cb-docs-links-'));
    mkdirSync(join(dir, 'docs'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const write = (path: string, text: string) => writeFileSync(join(dir, path), text);

  it('makes slugs as GitHub does', () => {
    expect(slugOf(headingText('WebSocket: `/ws/stream`'))).toBe('websocket-wsstream');
    expect(slugOf(headingText('Routing and failover'))).toBe('routing-and-failover');
    expect(slugOf(headingText('Stickiness: not needed'))).toBe('stickiness-not-needed');
    expect(slugOf(headingText('GraphQL: authentication first, query limits, introspection'))).toBe(
      'graphql-authentication-first-query-limits-introspection',
    );
    expect(slugOf(headingText('`max_tokens` and **bold** _emphasis_ [a link](x.md)'))).toBe(
      'max_tokens-and-bold-emphasis-a-link',
    );
    expect(slugOf(headingText('Node 20.19+ (or newer)'))).toBe('node-2019-or-newer');
  });

  it('numbers duplicate headings and ignores # lines in code blocks', () => {
    const anchors = anchorsOf(
      ['# Title', '## Errors', '## Errors', '```bash', '# not a heading', '```', '## Errors', ''].join('\n'),
    );
    expect([...anchors]).toEqual(['title', 'errors', 'errors-1', 'errors-2']);
  });

  it('reads links whose text spans lines, and skips those in code', () => {
    const links = linksOf(
      [
        'See [the',
        'guide](docs/guide.md#setup) and `[not](a-link.md)`.',
        '```',
        '[nor](this.md)',
        '```',
      ].join('\n'),
    );
    expect(links).toEqual([{ line: 1, text: 'the guide', target: 'docs/guide.md#setup' }]);
  });

  it('does not let a stray backtick hide the links of the next paragraphs', () => {
    const links = linksOf(
      ['A lone ` backtick.', '', 'Then [a](a.md) and `code` and [b](b.md#x).', ''].join('\n'),
    );
    expect(links.map(({ target }) => target)).toEqual(['a.md', 'b.md#x']);
  });

  it('reports a missing file, a missing heading and a missing anchor in the same file', () => {
    write('docs/guide.md', '# Guide\n\n## Setup\n');
    write(
      'README.md',
      [
        '# Readme',
        '[ok](docs/guide.md#setup) [ok too](#readme) [external](https://example.com/nope.md)',
        '[gone](docs/missing.md)',
        '[no heading](docs/guide.md#install)',
        '[no anchor](#nowhere)',
        '',
      ].join('\n'),
    );
    expect(checkLinks(join(dir, 'README.md'), dir)).toEqual([
      { file: 'README.md', line: 3, target: 'docs/missing.md', problem: 'no such file: docs/missing.md' },
      {
        file: 'README.md',
        line: 4,
        target: 'docs/guide.md#install',
        problem: 'no heading #install in docs/guide.md',
      },
      { file: 'README.md', line: 5, target: '#nowhere', problem: 'no heading #nowhere in README.md' },
    ]);
  });

  it('resolves links relative to the linking file', () => {
    write('README.md', '# Readme\n');
    write('docs/a.md', '# A\n[up](../README.md#readme) [wrong](README.md)\n');
    expect(checkLinks(join(dir, 'docs', 'a.md'), dir)).toEqual([
      { file: 'docs/a.md', line: 2, target: 'README.md', problem: 'no such file: docs/README.md' },
    ]);
  });
});
