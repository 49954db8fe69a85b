/** Minimal `--name value` / `--flag` parsing for the performance tools. */
export class PerfArgs {
  private readonly values = new Map<string, string>();
  private readonly flags = new Set<string>();
  readonly positional: string[] = [];

  constructor(argv: string[], booleanFlags: string[]) {
    for (let i = 0; i < argv.length; i++) {
      const arg = argv[i];
      if (!arg.startsWith('--')) {
        this.positional.push(arg);
        continue;
      }
      const [name, inline] = arg.slice(2).split(/=(.*)/s, 2);
      if (booleanFlags.includes(name)) {
        this.flags.add(name);
      } else if (inline !== undefined) {
        this.values.set(name, inline);
      } else if (i + 1 < argv.length) {
        this.values.set(name, argv[++i]);
      } else {
        throw new Error(`--${name} needs a value`);
      }
    }
  }

  flag(name: string): boolean {
    return this.flags.has(name);
  }

  string(name: string, fallback: string): string;
  string(name: string): string | undefined;
  string(name: string, fallback?: string): string | undefined {
    return this.values.get(name) ?? fallback;
  }

  number(name: string, fallback: number): number {
    const raw = this.values.get(name);
    if (raw === undefined) {
      return fallback;
    }
    const value = Number(raw);
    if (!Number.isFinite(value) || value < 0) {
      throw new Error(`--${name} must be a non-negative number (got "${raw}")`);
    }
    return value;
  }

  /** Seconds from `60`, `60s`, `2m` or `500ms`. */
  seconds(name: string, fallback: number): number {
    const raw = this.values.get(name);
    if (raw === undefined) {
      return fallback;
    }
    const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(raw.trim());
    if (!match) {
      throw new Error(`--${name} must be a duration such as 60s, 2m or 500ms (got "${raw}")`);
    }
    const value = Number(match[1]);
    return match[2] === 'ms' ? value / 1000 : match[2] === 'm' ? value * 60 : value;
  }
}
