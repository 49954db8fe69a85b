/**
 * A small, dependency-free command-line parser shared by the tools: `--flag value`,
 * `--flag=value`, boolean switches, `-h`/`--help`, an optional sub-command word, readers for
 * numbers and durations, and a help text built from the same option table, so the
 * documentation cannot drift from what is parsed.
 */

export interface OptionSpec {
  /** Long name without the leading dashes, e.g. `external-user`. */
  name: string;
  /** `string` takes a value; `boolean` is a switch. */
  type: 'string' | 'boolean';
  description: string;
  /** Placeholder shown in the help, e.g. `<file>`. */
  valueName?: string;
  required?: boolean;
  /** Single-letter alias without the dash, e.g. `h`. */
  alias?: string;
}

/** What parseArgs needs; tools with a hand-written help text give only this. */
export interface ArgsSpec {
  options: readonly Pick<OptionSpec, 'name' | 'type' | 'valueName' | 'required' | 'alias'>[];
  /** Name under which one word not starting with `-` is returned, e.g. `command`. */
  positional?: string;
}

export interface CommandSpec extends ArgsSpec {
  /** How the command is invoked, e.g. `npm run migrate:organizations --`. */
  usage: string;
  summary: string;
  options: OptionSpec[];
  /** Extra help sections (title, lines), e.g. exit codes and examples. */
  sections?: { title: string; lines: string[] }[];
}

export type ParsedArgs = Record<string, string | boolean | undefined>;

/** A mistake in the command line; the message says which flag and why. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/**
 * Parses argv (without node and the script) against the spec. Returns string values for
 * string options (and the positional word, when the spec names one), true for given
 * switches, and `help: true` when -h/--help is present (required options are then not
 * enforced). Throws UsageError on anything unexpected.
 */
export function parseArgs(spec: ArgsSpec, argv: readonly string[]): ParsedArgs {
  const byName = new Map(spec.options.map((o) => [o.name, o]));
  const byAlias = new Map(spec.options.filter((o) => o.alias).map((o) => [o.alias!, o]));
  const result: ParsedArgs = {};
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') {
      help = true;
      continue;
    }
    let option: ArgsSpec['options'][number] | undefined;
    let inline: string | undefined;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
      inline = eq === -1 ? undefined : arg.slice(eq + 1);
      option = byName.get(name);
      if (!option) {
        throw new UsageError(`unknown option --${name} (see --help)`);
      }
    } else if (/^-[A-Za-z]$/.test(arg)) {
      option = byAlias.get(arg.slice(1));
      if (!option) {
        throw new UsageError(`unknown option ${arg} (see --help)`);
      }
    } else if (spec.positional !== undefined && result[spec.positional] === undefined) {
      result[spec.positional] = arg;
      continue;
    } else {
      throw new UsageError(`unexpected argument "${arg}" (options start with --; see --help)`);
    }
    if (result[option.name] !== undefined) {
      throw new UsageError(`--${option.name} is given more than once`);
    }
    if (option.type === 'boolean') {
      if (inline !== undefined) {
        throw new UsageError(`--${option.name} is a switch and takes no value`);
      }
      result[option.name] = true;
      continue;
    }
    const value = inline ?? argv[i + 1];
    if (value === undefined || (inline === undefined && value.startsWith('--'))) {
      throw new UsageError(`--${option.name} needs a value ${option.valueName ?? ''}`.trimEnd());
    }
    if (inline === undefined) {
      i++;
    }
    result[option.name] = value;
  }
  if (help) {
    return { ...result, help: true };
  }
  const missing = spec.options.filter((o) => o.required && result[o.name] === undefined);
  if (missing.length > 0) {
    throw new UsageError(
      `missing required option${missing.length > 1 ? 's' : ''} ${missing
        .map((o) => `--${o.name}`)
        .join(', ')} (see --help)`,
    );
  }
  return result;
}

/** The value of a string option, or undefined when it was not given. */
export function stringArg(args: ParsedArgs, name: string): string | undefined {
  const value = args[name];
  return typeof value === 'string' ? value : undefined;
}

/** A non-negative number option; the fallback when it was not given. */
export function numberArg(args: ParsedArgs, name: string, fallback: number): number {
  const raw = stringArg(args, name);
  if (raw === undefined) {
    return fallback;
  }
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) {
    throw new UsageError(`--${name} must be a non-negative number (got "${raw}")`);
  }
  return value;
}

/** A duration option in seconds, written `60`, `60s`, `2m` or `500ms`; the fallback when not given. */
export function secondsArg(args: ParsedArgs, name: string, fallback: number): number {
  const raw = stringArg(args, name);
  if (raw === undefined) {
    return fallback;
  }
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(raw.trim());
  if (!match) {
    throw new UsageError(`--${name} must be a duration such as 60s, 2m or 500ms (got "${raw}")`);
  }
  const value = Number(match[1]);
  return match[2] === 'ms' ? value / 1000 : match[2] === 'm' ? value * 60 : value;
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  if (line !== '') {
    lines.push(line);
  }
  return lines;
}

/** The --help text: usage, summary, every option (required ones marked), extra sections. */
export function formatHelp(spec: CommandSpec): string {
  const all: OptionSpec[] = [
    ...spec.options,
    { name: 'help', alias: 'h', type: 'boolean', description: 'Show this help and exit.' },
  ];
  const label = (o: OptionSpec) =>
    `${o.alias ? `-${o.alias}, ` : '    '}--${o.name}${o.type === 'string' ? ` ${o.valueName ?? '<value>'}` : ''}`;
  const column = Math.max(...all.map((o) => label(o).length)) + 2;
  const out = [`Usage: ${spec.usage}`, '', ...wrap(spec.summary, 96), '', 'Options:'];
  for (const o of all) {
    const text = `${o.description}${o.required ? ' (required)' : ''}`;
    const [first, ...rest] = wrap(text, Math.max(40, 96 - column));
    out.push(`  ${label(o).padEnd(column)}${first}`);
    for (const line of rest) {
      out.push(`  ${' '.repeat(column)}${line}`);
    }
  }
  for (const section of spec.sections ?? []) {
    out.push('', `${section.title}:`, ...section.lines.map((l) => (l === '' ? '' : `  ${l}`)));
  }
  return `${out.join('\n')}\n`;
}
