import {
  BadGatewayException,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnModuleDestroy,
  ServiceUnavailableException,
} from '@nestjs/common';
import { AuditService } from '../audit/audit.service';
import { Principal, SYSTEM_ACTOR } from '../auth/principal';
import { hasControlCharacters, idProblems, MODEL_ID_RULE } from '../common/validators';
import { AppConfig } from '../config/app-config';
import { DatabaseService } from '../database/database.service';
import { OpenRouterClient, UpstreamUnavailable } from '../gateway/openrouter.client';
import { CatalogService } from './catalog.service';
import { CatalogSyncResponse, ImportModelItem } from './dto/model.dto';
import { ModelEntity } from './entities/model.entity';

/** A price the upstream writes as a string of USD per token ("0.0000025"); negative or odd: unknown. */
function price(value: unknown): number | null {
  const n = typeof value === 'string' || typeof value === 'number' ? Number(value) : NaN;
  return Number.isFinite(n) && n >= 0 && n <= 1 ? n : null;
}

function tokens(value: unknown): number | null {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 100_000_000
    ? value
    : null;
}

type SyncedItem = Omit<ImportModelItem, 'base_model_id' | 'is_active'>;

/** One upstream model as the catalog stores it, or null when its id cannot be a catalog id. */
function toItem(raw: unknown): SyncedItem | null {
  if (raw === null || typeof raw !== 'object') {
    return null;
  }
  const m = raw as Record<string, unknown>;
  if (idProblems(m.id, MODEL_ID_RULE).length > 0) {
    return null;
  }
  const id = m.id as string;
  const rawName = typeof m.name === 'string' ? m.name.trim() : '';
  const name = rawName === '' || hasControlCharacters(rawName) ? id : rawName.slice(0, 255);
  const pricing = (m.pricing ?? {}) as Record<string, unknown>;
  const top = (m.top_provider ?? {}) as Record<string, unknown>;
  return {
    id,
    name,
    prompt_price_usd: price(pricing.prompt),
    completion_price_usd: price(pricing.completion),
    context_length: tokens(m.context_length),
    max_completion_tokens: tokens(top.max_completion_tokens),
  };
}

/**
 * Keeps the catalog in step with the upstream's `/models`: new models are added (and
 * granted to auto-grant organizations, as any new model), names, prices and limits of
 * known ones updated, provider models the upstream no longer lists marked inactive. One
 * transaction, one audit event with the counts. Runs on POST /api/v1/models/sync and,
 * with CATALOG_SYNC_INTERVAL_SECONDS, on a timer.
 */
@Injectable()
export class CatalogSyncService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(CatalogSyncService.name);
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<CatalogSyncResponse> | null = null;

  constructor(
    private readonly config: AppConfig,
    private readonly db: DatabaseService,
    private readonly audit: AuditService,
    private readonly catalog: CatalogService,
    private readonly upstream: OpenRouterClient,
  ) {}

  onApplicationBootstrap(): void {
    const seconds = this.config.catalogSyncIntervalSeconds;
    if (seconds > 0) {
      this.timer = setInterval(() => {
        this.sync(SYSTEM_ACTOR).catch((error: unknown) =>
          this.logger.warn({ msg: 'scheduled catalog sync failed', error: String(error) }),
        );
      }, seconds * 1000);
      this.timer.unref();
    }
  }

  onModuleDestroy(): void {
    if (this.timer) {
      clearInterval(this.timer);
    }
  }

  /** One sync at a time: a request during a running sync gets that sync's result. */
  sync(actor: Principal | string): Promise<CatalogSyncResponse> {
    this.running ??= this.run(actor).finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async run(actor: Principal | string): Promise<CatalogSyncResponse> {
    const items = await this.fetchUpstream();
    const result = await this.db.write(async (tx) => {
      const repo = tx.getRepository(ModelEntity);
      const stored = new Map((await repo.find()).map((m) => [m.id, m]));
      const counts: CatalogSyncResponse = {
        upstream_models: items.length,
        created: 0,
        updated: 0,
        unchanged: 0,
        deactivated: 0,
        auto_granted: 0,
      };
      const seen = new Set<string>();
      for (const item of items) {
        if (seen.has(item.id)) {
          continue;
        }
        seen.add(item.id);
        const existing = stored.get(item.id);
        // Activity and base model stay as the admins set them; the upstream owns names and prices.
        const { outcome, autoGranted } = await this.catalog.upsertOne(tx, {
          ...item,
          base_model_id: existing?.baseModelId ?? null,
          is_active: existing?.isActive ?? true,
        });
        counts[outcome]++;
        counts.auto_granted += autoGranted.length;
      }
      const vanished = [...stored.values()].filter(
        (m) => m.baseModelId === null && m.isActive && !seen.has(m.id),
      );
      for (const model of vanished) {
        await repo.update(
          { id: model.id },
          { isActive: false, updatedAt: new Date().toISOString() },
        );
      }
      counts.deactivated = vanished.length;
      await this.audit.record(tx, actor, {
        action: 'model.sync',
        targetType: 'model',
        targetId: `${items.length} upstream models`,
        after: { ...counts, deactivated_ids: vanished.map((m) => m.id).slice(0, 1000) },
      });
      return counts;
    });
    this.logger.log({ msg: 'catalog synced', ...result });
    return result;
  }

  private async fetchUpstream(): Promise<SyncedItem[]> {
    if (!this.upstream.configured) {
      throw new ServiceUnavailableException(
        'The catalog cannot be synced: OPENROUTER_API_KEY is not set.',
      );
    }
    let document: unknown;
    try {
      document = await this.upstream.getJson('models');
    } catch (error) {
      throw new BadGatewayException(
        error instanceof UpstreamUnavailable
          ? `The upstream's model list could not be read: ${error.message}`
          : "The upstream's model list could not be read.",
      );
    }
    const data = (document as { data?: unknown } | null)?.data;
    if (!Array.isArray(data)) {
      throw new BadGatewayException("The upstream's /models answer has no data array.");
    }
    const items = data.map(toItem).filter((m): m is SyncedItem => m !== null);
    if (data.length > 0 && items.length === 0) {
      throw new BadGatewayException("None of the upstream's models has a usable id.");
    }
    if (items.length === 0) {
      // An empty list would deactivate every provider model: refuse rather than trust it.
      throw new BadGatewayException(
        'The upstream listed no models; the catalog was left as it is.',
      );
    }
    return items;
  }
}
