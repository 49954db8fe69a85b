/** What the gateway learns from an upstream answer without keeping it. */
export interface ScannedAnswer {
  generationId: string | null;
  promptTokens: number | null;
  completionTokens: number | null;
  costUsd: number | null;
  /** The answer carried an error object (OpenRouter reports mid-stream errors this way). */
  errorMessage: string | null;
}

/** Longest SSE line kept while waiting for its end; longer lines are passed on unread. */
const MAX_LINE = 1024 * 1024;

function emptyAnswer(): ScannedAnswer {
  return {
    generationId: null,
    promptTokens: null,
    completionTokens: null,
    costUsd: null,
    errorMessage: null,
  };
}

function numberOrNull(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

/** Copies `usage`, `id` and `error` of one parsed answer object into the result. */
function absorb(into: ScannedAnswer, value: unknown): void {
  if (value === null || typeof value !== 'object') {
    return;
  }
  const object = value as Record<string, unknown>;
  if (into.generationId === null && typeof object.id === 'string') {
    into.generationId = object.id.slice(0, 255);
  }
  const usage = object.usage as Record<string, unknown> | null | undefined;
  if (usage && typeof usage === 'object') {
    into.promptTokens = numberOrNull(usage.prompt_tokens) ?? into.promptTokens;
    into.completionTokens = numberOrNull(usage.completion_tokens) ?? into.completionTokens;
    into.costUsd = numberOrNull(usage.cost) ?? into.costUsd;
  }
  const error = object.error as Record<string, unknown> | null | undefined;
  if (error && typeof error === 'object') {
    into.errorMessage = typeof error.message === 'string' ? error.message : 'upstream error';
  }
}

const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;
const SPACE = 0x20;
const DATA = Buffer.from('data:');
const DONE = Buffer.from('[DONE]');
const USAGE_KEY = Buffer.from('"usage"');
const ERROR_KEY = Buffer.from('"error"');

/** Whether bytes[at..] starts with `prefix` (compared in JS: a native call costs more here). */
function startsWith(bytes: Buffer, at: number, end: number, prefix: Buffer): boolean {
  if (end - at < prefix.length) {
    return false;
  }
  for (let i = 0; i < prefix.length; i++) {
    if (bytes[at + i] !== prefix[i]) {
      return false;
    }
  }
  return true;
}

/**
 * Where `needle` next occurs in a chunk at or after a position, searched at most once per
 * occurrence: a line asks whether the next occurrence falls inside it, so a chunk of many
 * lines is scanned once, not once per line.
 */
class NextOccurrence {
  private at = -1;
  private searchedFrom = 0;

  constructor(
    private readonly bytes: Buffer,
    private readonly needle: Buffer,
  ) {}

  /** Whether the needle occurs within [from, end). */
  within(from: number, end: number): boolean {
    if (this.at !== -1 && this.at < from) {
      this.at = -1;
      this.searchedFrom = from;
    }
    if (this.at === -1 && this.searchedFrom <= from) {
      this.at = this.bytes.indexOf(this.needle, from);
      // nothing further in this chunk: no later line needs to search again
      this.searchedFrom = this.at === -1 ? this.bytes.length + 1 : from;
    }
    return this.at !== -1 && this.at + this.needle.length <= end;
  }
}

/**
 * Reads a Server-Sent Events answer as it passes, line by line, on the bytes themselves:
 * lines are found with Buffer.indexOf (a newline byte never occurs inside a UTF-8
 * character), and only the lines worth reading become strings: the first `data:` line (for
 * the generation id) and lines that can hold a usage or error object. Content chunks, almost
 * the whole answer, are never decoded or copied; only the current partial line is kept.
 */
export class SseScanner {
  readonly answer = emptyAnswer();
  /** True once a `data:` line has been seen (the first token, for time to first token). */
  sawData = false;
  /** The start of the current line, when it began in an earlier chunk (copies). */
  private partial: Buffer[] = [];
  private partialLength = 0;
  private skippingLongLine = false;

  /** Reads a chunk; returns true when it held the answer's first data line. */
  push(chunk: Buffer): boolean {
    const before = this.sawData;
    let start = 0;
    let usage: NextOccurrence | null = null;
    let error: NextOccurrence | null = null;
    for (;;) {
      const end = chunk.indexOf(NEWLINE, start);
      if (end === -1) {
        break;
      }
      if (this.skippingLongLine) {
        this.skippingLongLine = false;
      } else if (this.partialLength > 0) {
        const whole = Buffer.concat([...this.partial, chunk.subarray(start, end)]);
        this.line(whole, 0, whole.length, null, null);
      } else if (end > start) {
        usage ??= new NextOccurrence(chunk, USAGE_KEY);
        error ??= new NextOccurrence(chunk, ERROR_KEY);
        this.line(chunk, start, end, usage, error);
      }
      this.partial = [];
      this.partialLength = 0;
      start = end + 1;
    }
    if (start < chunk.length && !this.skippingLongLine) {
      // Copied: a view would keep the whole chunk (and its socket buffer) alive.
      this.partial.push(Buffer.from(chunk.subarray(start)));
      this.partialLength += chunk.length - start;
      if (this.partialLength > MAX_LINE) {
        this.partial = [];
        this.partialLength = 0;
        this.skippingLongLine = true;
      }
    }
    return !before && this.sawData;
  }

  /** The answer ended: a last line without a newline still counts. */
  end(): void {
    if (this.partialLength > 0 && !this.skippingLongLine) {
      const rest = Buffer.concat(this.partial);
      this.line(rest, 0, rest.length, null, null);
    }
    this.partial = [];
    this.partialLength = 0;
  }

  /**
   * The line bytes[start, end) (without its newline); `usage` and `error` find the keys in
   * a chunk of many lines (null: search this line alone).
   */
  private line(
    bytes: Buffer,
    start: number,
    end: number,
    usage: NextOccurrence | null,
    error: NextOccurrence | null,
  ): void {
    if (end > start && bytes[end - 1] === CARRIAGE_RETURN) {
      end--;
    }
    if (!startsWith(bytes, start, end, DATA)) {
      return;
    }
    let from = start + DATA.length;
    if (from < end && bytes[from] === SPACE) {
      from++;
    }
    if (end - from === DONE.length && startsWith(bytes, from, end, DONE)) {
      return;
    }
    const first = !this.sawData;
    this.sawData = true;
    const worthReading =
      first ||
      (usage ? usage.within(from, end) : holds(bytes, USAGE_KEY, from, end)) ||
      (error ? error.within(from, end) : holds(bytes, ERROR_KEY, from, end));
    if (worthReading) {
      try {
        absorb(this.answer, JSON.parse(bytes.toString('utf8', from, end)));
      } catch {
        // not JSON: passed on as it is, nothing to learn from it
      }
    }
  }
}

/** Whether `needle` occurs within bytes[from, end). */
function holds(bytes: Buffer, needle: Buffer, from: number, end: number): boolean {
  const at = bytes.indexOf(needle, from);
  return at !== -1 && at + needle.length <= end;
}

/** Bytes kept from each end of a JSON answer. */
const HEAD = 4 * 1024;
const TAIL = 64 * 1024;

/**
 * Reads a JSON answer as it passes, keeping only its first and last few kilobytes: the id
 * comes first and `usage` last in OpenAI-style answers. A small answer is parsed whole.
 */
export class JsonScanner {
  readonly answer = emptyAnswer();
  private head: Buffer[] = [];
  private headSize = 0;
  private tail: Buffer[] = [];
  private tailSize = 0;
  private total = 0;

  push(chunk: Buffer): void {
    this.total += chunk.length;
    if (this.headSize < HEAD) {
      const part = chunk.subarray(0, HEAD - this.headSize);
      this.head.push(part);
      this.headSize += part.length;
    }
    this.tail.push(chunk);
    this.tailSize += chunk.length;
    while (this.tail.length > 1 && this.tailSize - this.tail[0].length >= TAIL) {
      this.tailSize -= this.tail.shift()!.length;
    }
  }

  end(): void {
    const tail = Buffer.concat(this.tail).toString('utf8');
    if (this.total === this.tailSize) {
      try {
        absorb(this.answer, JSON.parse(tail));
        return;
      } catch {
        // fall through to the partial reading
      }
    }
    const head = Buffer.concat(this.head).toString('utf8');
    const id = /"id"\s*:\s*"((?:[^"\\]|\\.){1,255})"/.exec(head);
    const parts: Record<string, unknown> = {};
    if (id) {
      parts.id = id[1];
    }
    const usage = objectAfterKey(tail, '"usage"');
    if (usage !== undefined) {
      parts.usage = usage;
    }
    absorb(this.answer, parts);
  }
}

/** The JSON object that is the value of the last `key` in text, or undefined. */
function objectAfterKey(text: string, key: string): unknown {
  const at = text.lastIndexOf(key);
  if (at === -1) {
    return undefined;
  }
  const open = text.indexOf('{', at + key.length);
  if (open === -1 || text.slice(at + key.length, open).trim() !== ':') {
    return undefined;
  }
  let depth = 0;
  let inString = false;
  for (let i = open; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') {
        i++;
      } else if (c === '"') {
        inString = false;
      }
    } else if (c === '"') {
      inString = true;
    } else if (c === '{') {
      depth++;
    } else if (c === '}') {
      depth--;
      if (depth === 0) {
        try {
          return JSON.parse(text.slice(open, i + 1)) as unknown;
        } catch {
          return undefined;
        }
      }
    }
  }
  return undefined;
}
