/** Where progress goes: a writable stream with an optional TTY flag (process.stderr fits). */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
}

export interface ProgressOptions {
  stream: ProgressStream;
  /** Show progress at all. Tools turn it on when the stream is a TTY or when asked to. */
  enabled: boolean;
  /** Minimum time between two updates. */
  intervalMs?: number;
  /** Clock, replaceable in tests. */
  now?: () => number;
}

/**
 * Throttled progress for long phases: `phase 12,000/50,000 (24%)`. On a TTY the line is
 * redrawn in place; elsewhere (e.g. `--progress` into a log) one line per update. Updates
 * closer together than intervalMs are dropped, except the last one of a phase.
 */
export class Progress {
  private label = '';
  private total = 0;
  private current = 0;
  private lastDraw = -Infinity;
  private lastText = '';
  private drawn = false;
  private readonly intervalMs: number;
  private readonly now: () => number;

  constructor(private readonly options: ProgressOptions) {
    this.intervalMs = options.intervalMs ?? 200;
    this.now = options.now ?? (() => Date.now());
  }

  get enabled(): boolean {
    return this.options.enabled;
  }

  /** Starts a phase of `total` units (0 when unknown). */
  start(label: string, total = 0): void {
    this.finishLine();
    this.label = label;
    this.total = total;
    this.current = 0;
    this.lastDraw = -Infinity;
    this.lastText = '';
    this.draw(false);
  }

  /** Advances the phase by n units; draws only when the interval has passed. */
  advance(n = 1): void {
    this.current += n;
    this.draw(false);
  }

  /** Ends the phase, drawing its final state. */
  done(): void {
    if (this.label !== '') {
      this.current = Math.max(this.current, this.total);
      this.draw(true);
      this.finishLine();
      this.label = '';
    }
  }

  private text(final: boolean): string {
    if (this.total <= 0) {
      return final ? `${this.label}: done` : `${this.label}...`;
    }
    const percent = Math.floor((this.current / this.total) * 100);
    return `${this.label} ${this.current.toLocaleString('en-US')}/${this.total.toLocaleString('en-US')} (${percent}%)`;
  }

  private draw(force: boolean): void {
    if (!this.options.enabled) {
      return;
    }
    const at = this.now();
    if (!force && at - this.lastDraw < this.intervalMs) {
      return;
    }
    const text = this.text(force);
    if (text === this.lastText) {
      return;
    }
    this.lastDraw = at;
    this.lastText = text;
    if (this.options.stream.isTTY) {
      this.options.stream.write(`\r\x1b[2K${text}`);
      this.drawn = true;
    } else {
      this.options.stream.write(`${text}\n`);
    }
  }

  private finishLine(): void {
    if (this.drawn) {
      this.options.stream.write('\n');
      this.drawn = false;
    }
  }
}
