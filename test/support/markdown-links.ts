import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, relative, resolve } from 'node:path';

/**
 * Relative links of Markdown files, checked the way GitHub renders them: `[x](path)`, `[x](path#anchor)` and
 * `[x](#anchor)` (images too) must name an existing file, and an anchor must be a heading of that file.
 * External links (a scheme such as https: or mailto:, or `//host`) are not fetched.
 *
 * What is read: ATX headings (`#` to `######`) and `<a name|id="...">` tags as anchors; inline links, their
 * text possibly spanning lines. Fenced code blocks and inline code spans are skipped (a `#` line in a shell
 * example is no heading, a link written in backticks is no link). Setext headings (underlined with `===`)
 * and reference-style links (`[x][ref]`) are not used in this repository and not read.
 */

export interface MarkdownLink {
  /** 1-based line of the link's `[`. */
  line: number;
  text: string;
  target: string;
}

export interface LinkProblem {
  file: string;
  line: number;
  target: string;
  problem: string;
}

/** GitHub's heading slug (github-slugger): lower-case, punctuation but `-` and `_` dropped, spaces -> `-`. */
export function slugOf(headingText: string): string {
  return headingText
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

/** The text GitHub renders for a heading's Markdown: links, images, emphasis and tags reduced to their text;
 * code spans kept as written (their content is not Markdown). */
export function headingText(markdown: string): string {
  const plain = (part: string) =>
    part
      .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
      .replace(/<[^>]+>/g, '')
      .replace(/(\*\*|__)(.+?)\1/g, '$2')
      .replace(/(^|[^\p{L}\p{N}])[*_](.+?)[*_](?=$|[^\p{L}\p{N}])/gu, '$1$2')
      .replace(/\*/g, '');
  let text = '';
  let last = 0;
  for (const span of markdown.matchAll(/(`+)([\s\S]*?[^`])\1(?!`)/g)) {
    text += plain(markdown.slice(last, span.index)) + (span[2] ?? '').trim();
    last = span.index + span[0].length;
  }
  return (text + plain(markdown.slice(last))).trim();
}

/** The source with fenced code blocks blanked (line count kept), so nothing inside them is read. */
function withoutFences(source: string): string {
  const lines = source.split('\n');
  let fence: { char: string; length: number } | undefined;
  return lines
    .map((line) => {
      const opener = /^\s*(`{3,}|~{3,})/.exec(line);
      if (fence) {
        const closer = /^\s*(`{3,}|~{3,})\s*$/.exec(line);
        if (closer?.[1] && closer[1][0] === fence.char && closer[1].length >= fence.length) fence = undefined;
        return '';
      }
      if (opener?.[1]) {
        fence = { char: opener[1][0] ?? '`', length: opener[1].length };
        return '';
      }
      return line;
    })
    .join('\n');
}

/** Code spans replaced by a same-length run of spaces, so what they hold is neither a link nor shifts lines. A
 * span may wrap lines but not cross a blank line (a paragraph's end), so a stray backtick blanks nothing beyond. */
function withoutCodeSpans(text: string): string {
  return text.replace(/(`+)((?:(?!\n[ \t]*\n)[\s\S])*?[^`])\1(?!`)/g, (span) => span.replace(/[^\n]/g, ' '));
}

/** Every anchor a Markdown file offers: heading slugs (duplicates get -1, -2, ...) and HTML name/id anchors. */
export function anchorsOf(source: string): Set<string> {
  const anchors = new Set<string>();
  const counts = new Map<string, number>();
  for (const line of withoutFences(source).split('\n')) {
    const heading = /^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$/.exec(line);
    if (heading) {
      const base = slugOf(headingText(heading[2] ?? ''));
      let slug = base;
      let n = counts.get(base) ?? 0;
      while (anchors.has(slug)) slug = `${base}-${++n}`;
      counts.set(base, n);
      anchors.add(slug);
    }
    for (const tag of line.matchAll(/<a\s[^>]*\b(?:name|id)=["']([^"']+)["']/gi)) {
      if (tag[1]) anchors.add(tag[1]);
    }
  }
  return anchors;
}

/** Inline links and images: `[text](target)`, `[text](<target>)`, `[text](target "title")`. */
export function linksOf(source: string): MarkdownLink[] {
  const text = withoutCodeSpans(withoutFences(source));
  const links: MarkdownLink[] = [];
  const pattern =
    /!?\[((?:[^[\]\\]|\\.|\[(?:[^[\]\\]|\\.)*\])*)\]\(\s*(<[^>\n]*>|(?:[^\s()\\]|\\.|\([^\s()]*\))*)(?:\s+(?:"[^"]*"|'[^']*'|\([^)]*\)))?\s*\)/g;
  for (const match of text.matchAll(pattern)) {
    const raw = match[2] ?? '';
    const target = raw.startsWith('<') ? raw.slice(1, -1) : raw;
    const line = text.slice(0, match.index).split('\n').length;
    links.push({ line, text: (match[1] ?? '').replace(/\s+/g, ' ').trim(), target });
  }
  return links;
}

function isExternal(target: string): boolean {
  return /^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('//');
}

/** The problems of one Markdown file's relative links (an empty list when every one resolves). */
export function checkLinks(file: string, root: string): LinkProblem[] {
  const source = readFileSync(file, 'utf8');
  const name = relative(root, file);
  const problems: LinkProblem[] = [];
  const anchorCache = new Map<string, Set<string>>();
  const anchorsIn = (path: string): Set<string> => {
    let anchors = anchorCache.get(path);
    if (!anchors) {
      anchors = anchorsOf(readFileSync(path, 'utf8'));
      anchorCache.set(path, anchors);
    }
    return anchors;
  };
  for (const { line, target } of linksOf(source)) {
    if (isExternal(target)) continue;
    const report = (problem: string) => problems.push({ file: name, line, target, problem });
    if (target === '') {
      report('empty link target');
      continue;
    }
    const hash = target.indexOf('#');
    const pathPart = hash < 0 ? target : target.slice(0, hash);
    const anchor = hash < 0 ? undefined : target.slice(hash + 1);
    let path: string;
    try {
      path = pathPart === '' ? file : resolve(dirname(file), decodeURIComponent(pathPart));
    } catch {
      report('the path is not valid percent-encoding');
      continue;
    }
    if (!existsSync(path)) {
      report(`no such file: ${relative(root, path)}`);
      continue;
    }
    if (anchor === undefined) continue;
    if (statSync(path).isDirectory() || extname(path).toLowerCase() !== '.md') {
      if (!/^L\d+(-L\d+)?$/.test(anchor)) report(`an anchor on a file that is not Markdown`);
      continue;
    }
    let wanted: string;
    try {
      wanted = decodeURIComponent(anchor);
    } catch {
      report('the anchor is not valid percent-encoding');
      continue;
    }
    if (!anchorsIn(path).has(wanted)) report(`no heading #${wanted} in ${relative(root, path)}`);
  }
  return problems;
}
