import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

/** The first-load budget of the admin console: JavaScript and CSS, gzipped. */
export const CONSOLE_BUDGET_BYTES = 150 * 1024;

export interface ConsoleAsset {
  path: string;
  bytes: number;
  gzipBytes: number;
}

/**
 * The scripts, module preloads and stylesheets that dist/console/index.html loads before
 * the console can show anything, with their raw and gzip (level 9) sizes.
 */
export function consoleFirstLoad(root: string): ConsoleAsset[] {
  const html = readFileSync(join(root, 'index.html'), 'utf8');
  const urls = new Set<string>();
  for (const match of html.matchAll(/<(?:script|link)\b[^>]*\b(?:src|href)="\/admin\/([^"]+)"/g)) {
    if (/\.(js|css)$/.test(match[1])) {
      urls.add(match[1]);
    }
  }
  return [...urls].map((path) => {
    const content = readFileSync(join(root, path));
    return { path, bytes: content.length, gzipBytes: gzipSync(content, { level: 9 }).length };
  });
}
