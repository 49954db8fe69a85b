import { applyDecorators, ArgumentMetadata, Injectable, PipeTransform } from '@nestjs/common';
import { ApiPropertyOptional, ApiPropertyOptions } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import {
  IsBoolean,
  IsIn,
  IsOptional,
  IsString,
  MaxLength,
  registerDecorator,
  ValidationOptions,
} from 'class-validator';
import { ValidationFailedException } from './validation';

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

export function hasControlCharacters(value: string): boolean {
  return CONTROL.test(value);
}

/** Rejects strings holding control characters (tabs and newlines included). */
export function NoControlCharacters(options?: ValidationOptions): PropertyDecorator {
  return (target: object, propertyName: string | symbol) =>
    registerDecorator({
      name: 'noControlCharacters',
      target: target.constructor,
      propertyName: String(propertyName),
      options: {
        message: `${String(propertyName)} must not contain control characters`,
        ...options,
      },
      validator: {
        validate: (value: unknown) => typeof value !== 'string' || !hasControlCharacters(value),
      },
    });
}

export const ORGANIZATION_ID_PATTERN = /^[a-z0-9][a-z0-9_-]{0,63}$/;
export const ORGANIZATION_ID_RULE =
  '1-64 lowercase letters, digits, _ or -, starting with a letter or digit';

export interface IdRule {
  field: string;
  maxLength: number;
  pattern?: RegExp;
  patternText?: string;
}

/**
 * Characters that do not show or that reorder text: zero-width and joiner characters, the
 * soft hyphen, bidirectional embeddings, overrides and isolates, word joiners, the BOM.
 */
const INVISIBLE = /[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff]/;

/** Printable ASCII, no space at either end: no control, invisible or non-NFC character. */
const PLAIN_ASCII = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/;

/** Problems with one identifier, or an empty list. */
export function idProblems(value: unknown, rule: IdRule): string[] {
  if (typeof value !== 'string' || value.length === 0) {
    return [`${rule.field} must be a non-empty string`];
  }
  if (value.length > rule.maxLength) {
    return [`${rule.field} must be at most ${rule.maxLength} characters`];
  }
  if (PLAIN_ASCII.test(value)) {
    // the common case, in one test: none of the checks below but the pattern can fail
    return rule.pattern && !rule.pattern.test(value)
      ? [`${rule.field} must be ${rule.patternText}`]
      : [];
  }
  if (hasControlCharacters(value)) {
    return [`${rule.field} must not contain control characters`];
  }
  if (value.trim() !== value) {
    return [`${rule.field} must not start or end with whitespace`];
  }
  // two ids that look the same must be the same id
  if (INVISIBLE.test(value)) {
    return [`${rule.field} must not contain invisible or bidirectional control characters`];
  }
  if (value.normalize('NFC') !== value) {
    return [`${rule.field} must be in Unicode normalization form C (NFC)`];
  }
  if (rule.pattern && !rule.pattern.test(value)) {
    return [`${rule.field} must be ${rule.patternText}`];
  }
  return [];
}

/** Validates an identifier taken from the path (already URL-decoded by the router). */
@Injectable()
export class IdPipe implements PipeTransform<unknown, string> {
  constructor(private readonly rule: IdRule) {}

  transform(value: unknown, _metadata: ArgumentMetadata): string {
    const problems = idProblems(value, this.rule);
    if (problems.length > 0) {
      throw new ValidationFailedException(
        problems.map((message) => ({ field: this.rule.field, message })),
      );
    }
    return value as string;
  }
}

export const USER_ID_RULE: IdRule = { field: 'user_id', maxLength: 255 };
export const MODEL_ID_RULE: IdRule = {
  field: 'model_id',
  maxLength: 255,
  pattern: /^[^*]+$/,
  patternText: 'a model id without * (patterns are for grants only)',
};
export const ORGANIZATION_ID_RULE_SPEC: IdRule = {
  field: 'organization_id',
  maxLength: 64,
  pattern: ORGANIZATION_ID_PATTERN,
  patternText: ORGANIZATION_ID_RULE,
};

export const UserIdPipe = new IdPipe(USER_ID_RULE);
export const ModelIdPipe = new IdPipe(MODEL_ID_RULE);
export const OrganizationIdPipe = new IdPipe(ORGANIZATION_ID_RULE_SPEC);

/** A grant target: a catalog model id, or a prefix pattern ending in a single `*`. */
export function grantTargetProblems(value: unknown, field = 'model_id'): string[] {
  const problems = idProblems(value, { field, maxLength: 255 });
  if (problems.length > 0) {
    return problems;
  }
  const text = value as string;
  const stars = text.split('*').length - 1;
  if (stars > 1 || (stars === 1 && !text.endsWith('*'))) {
    return [`${field} may hold one * and only at the end (a prefix pattern such as openai/*)`];
  }
  if (text === '*') {
    return [`${field} "*" would grant every model; name a prefix such as openai/*`];
  }
  return [];
}

@Injectable()
export class GrantTargetPipe implements PipeTransform<unknown, string> {
  transform(value: unknown): string {
    const problems = grantTargetProblems(value);
    if (problems.length > 0) {
      throw new ValidationFailedException(
        problems.map((message) => ({ field: 'model_id', message })),
      );
    }
    return value as string;
  }
}

/**
 * An optional boolean query parameter: accepts `true` or `false` as text and
 * refuses anything else with a per-field message.
 */
export function OptionalBooleanQuery(): PropertyDecorator {
  return applyDecorators(
    IsOptional(),
    Transform(({ value }: { value: unknown }) =>
      value === 'true' ? true : value === 'false' ? false : value,
    ),
    IsBoolean({
      message: ({ property }: { property: string }) => `${property} must be true or false`,
    }),
  );
}

/** An optional field that, when sent, must be one of `values` (documented as that enum). */
export function OptionalOneOf(
  values: readonly string[],
  doc: ApiPropertyOptions = {},
): PropertyDecorator {
  return applyDecorators(
    ApiPropertyOptional({ enum: values, ...doc } as ApiPropertyOptions),
    IsOptional(),
    IsIn(values),
  );
}

/** An optional line of text (a search, a filter): at most `maxLength` characters, no control characters. */
export function OptionalText(maxLength: number, doc: ApiPropertyOptions): PropertyDecorator {
  return applyDecorators(
    ApiPropertyOptional(doc),
    IsOptional(),
    IsString(),
    MaxLength(maxLength),
    NoControlCharacters(),
  );
}

/**
 * The timestamps the API accepts, exactly: a date `2026-01-31` (midnight UTC) or a date and
 * time `2026-01-31T13:45`, `...T13:45:30`, `...T13:45:30.123` with a zone `Z` or `+01:00`.
 * Week dates, ordinal dates, basic forms without separators, hour-only zones, decimal commas
 * and signed or expanded years are refused.
 */
const TIMESTAMP =
  /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/;

export const TIMESTAMP_RULE =
  'an ISO 8601 date (2026-01-31) or date and time with a zone (2026-01-31T13:45:00Z, 2026-01-31T14:45:00+01:00)';

/** The instant a timestamp in TIMESTAMP form names, or null when it is not one (or not a real date). */
export function parseTimestamp(text: string): Date | null {
  const m = TIMESTAMP.exec(text);
  if (!m) {
    return null;
  }
  const [, year, month, day, hour, minute, second, zone] = m;
  const date =
    Number(month) >= 1 && Number(month) <= 12 ? new Date(Date.UTC(+year, +month - 1, +day)) : null;
  // the calendar date must exist (no 2026-02-30 rolling over into March)
  if (!date || date.getUTCDate() !== Number(day) || date.getUTCMonth() !== Number(month) - 1) {
    return null;
  }
  if (
    hour !== undefined &&
    (Number(hour) > 23 || Number(minute) > 59 || Number(second ?? 0) > 59)
  ) {
    return null;
  }
  if (zone !== undefined && zone !== 'Z') {
    const [zh, zm] = zone.slice(1).split(':').map(Number);
    if (zh > 23 || zm > 59) {
      return null;
    }
  }
  const instant = new Date(hour === undefined ? `${text}T00:00:00Z` : text);
  return Number.isNaN(instant.getTime()) ? null : instant;
}

/** A query or body field holding a timestamp as parseTimestamp accepts it. */
export function IsTimestamp(options?: ValidationOptions): PropertyDecorator {
  return (target: object, propertyName: string | symbol) =>
    registerDecorator({
      name: 'isTimestamp',
      target: target.constructor,
      propertyName: String(propertyName),
      options: { message: `${String(propertyName)} must be ${TIMESTAMP_RULE}`, ...options },
      validator: {
        validate: (value: unknown) => typeof value === 'string' && parseTimestamp(value) !== null,
      },
    });
}

/**
 * User names and emails: the service takes every user Open WebUI takes, and the API and the
 * migration tool check them with these same functions. Open WebUI stores any text there (tabs,
 * line separators, spaces in emails, even no value at all), so the rule is only what the
 * database can hold: at most 255 (name) or 320 (email) characters counted as Unicode code
 * points (as PostgreSQL's varchar counts them, and as JSON Schema's maxLength does, so an emoji
 * is one), and no U+0000, which PostgreSQL text cannot store. An email, when not empty, has an
 * @ with text on both sides. A missing name or email is stored as empty text.
 */
export const USER_NAME_MAX = 255;
export const USER_EMAIL_MAX = 320;
/** The character rule above as an OpenAPI `pattern` (anything but U+0000). */
export const USER_TEXT_PATTERN = '^[^\\u0000]*$';

/** Length in Unicode code points (a surrogate pair counts once). */
export function codePointLength(value: string): number {
  let n = 0;
  for (const _ of value) {
    n++;
  }
  return n;
}

function userTextProblems(value: unknown, field: string, max: number): string[] {
  if (typeof value !== 'string') {
    return [`${field} must be a string`];
  }
  if (codePointLength(value) > max) {
    return [`${field} must be at most ${max} characters`];
  }
  if (value.includes('\u0000')) {
    return [`${field} must not contain U+0000 (NUL)`];
  }
  return [];
}

export function userNameProblems(value: unknown): string[] {
  return userTextProblems(value, 'name', USER_NAME_MAX);
}

export function userEmailProblems(value: unknown): string[] {
  const problems = userTextProblems(value, 'email', USER_EMAIL_MAX);
  if (problems.length === 0 && value !== '' && !/^[^@]+@.*[^@]/su.test(value as string)) {
    return ['email must be empty or look like name@domain'];
  }
  return problems;
}

function userTextDecorator(name: string, problems: (value: unknown) => string[]) {
  return (): PropertyDecorator => (target: object, propertyName: string | symbol) =>
    registerDecorator({
      name,
      target: target.constructor,
      propertyName: String(propertyName),
      options: { message: ({ value }) => problems(value)[0] ?? '' },
      validator: { validate: (value: unknown) => problems(value).length === 0 },
    });
}

/** A user's display name, as Open WebUI allows it (see userNameProblems). */
export const UserNameText = userTextDecorator('userNameText', userNameProblems);
/** A user's email, as Open WebUI allows it (see userEmailProblems). */
export const UserEmailText = userTextDecorator('userEmailText', userEmailProblems);
