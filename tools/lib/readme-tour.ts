/**
 * Reads the runnable parts of the README: fenced ```bash blocks preceded by a marker comment.
 *
 *   <!-- tour:server -->  the block that configures and starts the server (run in the background)
 *   <!-- tour -->         a block of the tour, run in order in one bash session
 *   <!-- tour:after -->   a block the README says to run after the tour (an earlier section that
 *                         builds on it): run, in order, after every <!-- tour --> block
 *
 * Inside a tour block, a comment line `# -> <json>` (continued on following comment lines
 * indented by at least two spaces) states what the previous command answered; the runner
 * checks that the answer contains it (see `jsonContains`).
 */

export interface TourBlock {
  kind: 'server' | 'tour' | 'after';
  /** 1-based line of the opening fence in the README, for error messages. */
  line: number;
  code: string;
}

export interface Expectation {
  /** 0-based line of the block after which the check runs (the last line of the comment). */
  afterLine: number;
  json: unknown;
  text: string;
}

const MARKER = /^<!--\s*tour(?::(server|after))?\s*-->\s*$/;
const FENCE_OPEN = /^```bash\s*$/;
const FENCE_CLOSE = /^```\s*$/;

/** The marked blocks of a README, in order. Throws when a marker is not followed by a bash block. */
export function extractTourBlocks(readme: string): TourBlock[] {
  const lines = readme.split('\n');
  const blocks: TourBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const marker = MARKER.exec(lines[i].trim());
    if (!marker) {
      continue;
    }
    let open = i + 1;
    while (open < lines.length && lines[open].trim() === '') {
      open++;
    }
    if (open >= lines.length || !FENCE_OPEN.test(lines[open])) {
      throw new Error(
        `README line ${i + 1}: ${lines[i].trim()} is not followed by a \`\`\`bash block`,
      );
    }
    const close = lines.findIndex((l, j) => j > open && FENCE_CLOSE.test(l));
    if (close < 0) {
      throw new Error(`README line ${open + 1}: the \`\`\`bash block is never closed`);
    }
    blocks.push({
      kind: (marker[1] as 'server' | 'after' | undefined) ?? 'tour',
      line: open + 1,
      code: lines.slice(open + 1, close).join('\n'),
    });
    i = close;
  }
  return blocks;
}

const EXPECT_START = /^\s*#\s*->\s?(.*)$/;
const EXPECT_MORE = /^\s*# {2,}(.*)$/;

/** The `# -> <json>` comments of a block, parsed. Throws when one is not JSON. */
export function extractExpectations(code: string, blockLine = 0): Expectation[] {
  const lines = code.split('\n');
  const found: Expectation[] = [];
  for (let i = 0; i < lines.length; i++) {
    const start = EXPECT_START.exec(lines[i]);
    if (!start) {
      continue;
    }
    const parts = [start[1]];
    let last = i;
    while (last + 1 < lines.length) {
      const more = EXPECT_MORE.exec(lines[last + 1]);
      if (!more || EXPECT_START.test(lines[last + 1])) {
        break;
      }
      parts.push(more[1]);
      last++;
    }
    const text = parts.map((p) => p.trim()).join('');
    try {
      found.push({ afterLine: last, json: JSON.parse(text), text });
    } catch {
      throw new Error(
        `README line ${blockLine + i + 2}: "# ->" must be followed by JSON, got ${text}`,
      );
    }
    i = last;
  }
  return found;
}

/**
 * True when `actual` contains `expected`: objects have every expected key with a containing
 * value, arrays have, for each expected element, a different actual element containing it,
 * other values are equal.
 */
export function jsonContains(actual: unknown, expected: unknown): boolean {
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual)) {
      return false;
    }
    const used = new Set<number>();
    return expected.every((e) => {
      const index = actual.findIndex((a, i) => !used.has(i) && jsonContains(a, e));
      used.add(index);
      return index >= 0;
    });
  }
  if (expected !== null && typeof expected === 'object') {
    if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) {
      return false;
    }
    const object = actual as Record<string, unknown>;
    return Object.entries(expected).every(
      ([key, value]) => Object.hasOwn(object, key) && jsonContains(object[key], value),
    );
  }
  return Object.is(actual, expected);
}

/**
 * Every curl command of every ```bash block (marked or not), continuation lines joined, with
 * the README line it starts on: what a newcomer pastes, tour or not.
 */
export function curlCommands(readme: string): { line: number; command: string }[] {
  const lines = readme.split('\n');
  const found: { line: number; command: string }[] = [];
  let inBash = false;
  for (let i = 0; i < lines.length; i++) {
    if (!inBash) {
      inBash = /^```bash\s*$/.test(lines[i]);
      continue;
    }
    if (/^```\s*$/.test(lines[i])) {
      inBash = false;
      continue;
    }
    if (!/(^|[\s;(|&])curl\s/.test(lines[i])) {
      continue;
    }
    const start = i;
    let command = lines[i];
    while (command.endsWith('\\') && i + 1 < lines.length) {
      command = `${command.slice(0, -1)} ${lines[++i].trim()}`;
    }
    found.push({ line: start + 1, command });
  }
  return found;
}
