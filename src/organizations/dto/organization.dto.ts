import { applyDecorators } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  ArrayMaxSize,
  ArrayUnique,
  IsArray,
  IsBoolean,
  IsOptional,
  IsString,
  Matches,
  MaxLength,
  MinLength,
  ValidateIf,
} from 'class-validator';
import { PageOf, PageQueryByActivity } from '../../common/pagination.dto';
import {
  NoControlCharacters,
  OptionalBooleanQuery,
  ORGANIZATION_ID_PATTERN,
  ORGANIZATION_ID_RULE,
} from '../../common/validators';
import { EXTERNAL_USER_PATTERN } from '../../config/load-config';

export const EXTERNAL_USER_RULE = '1-64 letters, digits, _ or -, starting with a letter or digit';

/** A lowercase DNS name of at least two labels (`acme.pl`, `mail.acme.co.uk`, `xn--bcher-kva.de`). */
export const EMAIL_DOMAIN_PATTERN =
  /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$/;
export const MAX_EMAIL_DOMAINS = 50;

const EMAIL_DOMAINS_DESCRIPTION =
  'Lowercase email domains (exact, subdomains not included) whose users join this organization when first seen, approved or when their email changes, and whom its admins may add. Set by site admins only; emails are not verified, see the deployment guide.';

/** email_domains: at most 50 distinct lowercase domain names. */
function EmailDomains(): PropertyDecorator {
  return applyDecorators(
    IsArray(),
    ArrayMaxSize(MAX_EMAIL_DOMAINS),
    ArrayUnique({ message: 'email_domains must not repeat a domain' }),
    IsString({ each: true }),
    Matches(EMAIL_DOMAIN_PATTERN, {
      each: true,
      message:
        'each email_domains entry must be a lowercase domain name such as acme.pl (no @, no wildcard, no trailing dot)',
    }),
  );
}

/** Optional, but when sent it must hold a value: PATCH {"is_active": null} is a 400, not "no change". */
function PresentNotNull(): PropertyDecorator {
  return ValidateIf((_body: object, value: unknown) => value !== undefined);
}

export class CreateOrganizationBody {
  @ApiProperty({ example: 'acme', description: `Slug: ${ORGANIZATION_ID_RULE}.` })
  @IsString()
  @Matches(ORGANIZATION_ID_PATTERN, { message: `id must be ${ORGANIZATION_ID_RULE}` })
  id: string;

  @ApiProperty({ example: 'Acme Sp. z o.o.', maxLength: 255 })
  @IsString()
  @MinLength(1)
  @MaxLength(255)
  @NoControlCharacters()
  name: string;

  @ApiProperty({
    example: 'mai_client_acme',
    description: `OpenRouter external-user prefix, unique: ${EXTERNAL_USER_RULE}.`,
  })
  @IsString()
  @Matches(EXTERNAL_USER_PATTERN, { message: `external_user must be ${EXTERNAL_USER_RULE}` })
  external_user: string;

  @ApiPropertyOptional({
    default: false,
    description: 'Grant every model added to the catalog later.',
  })
  @IsOptional()
  @IsBoolean()
  auto_grant_new_models?: boolean;

  @ApiPropertyOptional({
    type: [String],
    maxItems: MAX_EMAIL_DOMAINS,
    default: [],
    example: ['acme.pl'],
    description: EMAIL_DOMAINS_DESCRIPTION,
  })
  @PresentNotNull()
  @EmailDomains()
  email_domains?: string[];
}

export class UpdateOrganizationBody {
  @ApiPropertyOptional({ maxLength: 255 })
  @PresentNotNull()
  @IsString()
  @MinLength(1)
  @MaxLength(255)
  @NoControlCharacters()
  name?: string;

  @ApiPropertyOptional({
    description: 'false archives the organization: its members lose its models.',
  })
  @PresentNotNull()
  @IsBoolean()
  is_active?: boolean;

  @ApiPropertyOptional()
  @PresentNotNull()
  @IsBoolean()
  auto_grant_new_models?: boolean;

  @ApiPropertyOptional({
    type: [String],
    maxItems: MAX_EMAIL_DOMAINS,
    example: ['acme.pl'],
    description: `${EMAIL_DOMAINS_DESCRIPTION} Replaces the whole list; [] removes every domain (members stay).`,
  })
  @PresentNotNull()
  @EmailDomains()
  email_domains?: string[];
}

export class DeleteOrganizationQuery {
  @ApiPropertyOptional({
    type: Boolean,
    default: false,
    description: 'Also remove its members and grants; without it, 409 while any exist.',
  })
  @OptionalBooleanQuery()
  cascade?: boolean;
}

export class ListOrganizationsQuery extends PageQueryByActivity {}

export class OrganizationResponse {
  @ApiProperty({ example: 'acme' }) id: string;
  @ApiProperty({ example: 'Acme Sp. z o.o.' }) name: string;
  @ApiProperty({ example: 'mai_client_acme' }) external_user: string;
  @ApiProperty() is_active: boolean;
  @ApiProperty() auto_grant_new_models: boolean;
  @ApiProperty({ type: [String], example: ['acme.pl'], description: EMAIL_DOMAINS_DESCRIPTION })
  email_domains: string[];
  @ApiProperty({ description: 'Memberships, active or not.' }) member_count: number;
  @ApiProperty({ description: 'Grants (ids and patterns), active or not.' }) grant_count: number;
  @ApiProperty() created_at: string;
  @ApiProperty() updated_at: string;
}

export class OrganizationPage extends PageOf(OrganizationResponse) {}
