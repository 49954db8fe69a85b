import { Global, Module } from '@nestjs/common';
import { AccessCacheService } from './access-cache.service';

/** The access cache, shared by authentication and the access routes. */
@Global()
@Module({ providers: [AccessCacheService], exports: [AccessCacheService] })
export class ModelAccessCoreModule {}
