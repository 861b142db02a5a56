import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { parse as parseYaml } from 'yaml';
import { RequestErrorCode } from '../contract/error-code';
import { isObject } from '../common/is-object';
import { AddressAllowList } from '../common/net/address-allow-list';
import type { AppLogger } from '../common/logging/logger';
import { ROOT_LOGGER } from '../common/logging/logging.module';
import { AppConfig } from '../config/app-config';
import { DEFAULT_CONFIG_DIR } from '../config/config.loader';
import { redisUnavailable } from '../redis/redis-unavailable';
import { RedisService } from '../redis/redis.service';
import { RoutingService } from '../routing/routing.service';
import type { NetAnalysis, WorkflowDefinition } from './workflow-definition';
import { parseWorkflowDefinition } from './workflow-definition.parser';
import { WorkflowDefinitionError, WorkflowError } from './workflow.error';

/** A definition as kept: where it came from and what the analysis of its net found. */
export interface StoredWorkflow {
  definition: WorkflowDefinition;
  analysis: NetAnalysis;
  source: 'config' | 'api';
  /** ISO 8601. */
  createdAt: string;
}

const FILE_TYPES = new Set(['.yml', '.yaml', '.json']);
/** Definitions listed at most (the API's own; config ones always are). */
const LIST_LIMIT = 1000;

/**
 * Workflow definitions: those shipped in `workflows.directory` (loaded and validated at boot; a broken one
 * stops the boot, like bad config), and those created over the API, kept in a Redis hash so every node sees
 * them. Definitions are immutable once created, so each node caches what it has read.
 */
@Injectable()
export class WorkflowStore implements OnModuleInit {
  private readonly fromConfig = new Map<string, StoredWorkflow>();
  private readonly cache = new Map<string, StoredWorkflow>();
  private readonly key: string;
  private readonly log: AppLogger;
  private readonly webhookAllow: AddressAllowList;

  constructor(
    private readonly config: AppConfig,
    private readonly redis: RedisService,
    private readonly routing: RoutingService,
    @Inject(ROOT_LOGGER) logger: AppLogger,
  ) {
    this.key = `${config.redis.key_prefix}workflows:definitions`;
    this.webhookAllow = new AddressAllowList(config.workflows.webhooks.allow);
    this.log = logger.child({ context: 'WorkflowStore' });
  }

  onModuleInit(): void {
    const directory = this.config.workflows.directory;
    if (!directory) return;
    // Relative to the app's root (where config/ is), wherever the process was started from.
    const dir = resolve(DEFAULT_CONFIG_DIR, '..', directory);
    let files: string[];
    try {
      files = readdirSync(dir)
        .filter((f) => FILE_TYPES.has(extname(f)))
        .sort();
    } catch {
      this.log.warn({ directory: dir }, 'workflow directory not found: no shipped workflows');
      return;
    }
    for (const file of files) {
      const path = join(dir, file);
      let stored: StoredWorkflow;
      try {
        const text = readFileSync(path, 'utf8');
        const raw: unknown = extname(file) === '.json' ? JSON.parse(text) : parseYaml(text);
        stored = { ...this.parse(raw), source: 'config', createdAt: new Date().toISOString() };
      } catch (err) {
        if (onlyUnknownModels(err)) {
          // The catalogue changed (a provider or model removed): the file is sound, it just cannot run here.
          this.log.warn(
            { file: path, problems: err.problems },
            'workflow skipped: its models are not configured',
          );
          continue;
        }
        const reason = err instanceof Error ? err.message : String(err);
        throw new Error(`Workflow file ${path} is invalid: ${reason}`, { cause: err });
      }
      if (this.fromConfig.has(stored.definition.id)) {
        throw new Error(`Workflow file ${path}: the id '${stored.definition.id}' is defined twice.`);
      }
      this.fromConfig.set(stored.definition.id, stored);
    }
    this.log.info({ workflows: [...this.fromConfig.keys()] }, 'workflows loaded');
  }

  /** Validates a definition (throws WorkflowDefinitionError naming every problem) without keeping it. */
  parse(raw: unknown): Pick<StoredWorkflow, 'definition' | 'analysis'> {
    return parseWorkflowDefinition(raw, {
      knownModel: (id) => this.routing.knowsModel(id),
      defaultWebhookTimeoutMs: this.config.workflows.webhook_timeout,
      webhookAllow: this.webhookAllow,
    });
  }

  /** Validates and keeps a new definition; an id is made up from its name when it has none. */
  async create(raw: unknown): Promise<StoredWorkflow> {
    if (!isObject(raw)) throw new WorkflowDefinitionError([{ path: '', message: 'must be a JSON object' }]);
    const withId = raw.id === undefined ? { ...raw, id: madeUpId(raw.name) } : raw;
    const stored: StoredWorkflow = {
      ...this.parse(withId),
      source: 'api',
      createdAt: new Date().toISOString(),
    };
    const id = stored.definition.id;
    if (this.fromConfig.has(id)) throw taken(id);
    let created: number;
    try {
      created = await this.redis.client.hsetnx(this.key, id, JSON.stringify(stored));
    } catch (err) {
      throw redisUnavailable(err);
    }
    if (created !== 1) throw taken(id);
    this.cache.set(id, stored);
    return stored;
  }

  /** A definition by id, or undefined. */
  async find(id: string): Promise<StoredWorkflow | undefined> {
    const known = this.fromConfig.get(id) ?? this.cache.get(id);
    if (known) return known;
    let raw: string | null;
    try {
      raw = await this.redis.client.hget(this.key, id);
    } catch (err) {
      throw redisUnavailable(err);
    }
    if (raw === null) return undefined;
    const stored = JSON.parse(raw) as StoredWorkflow;
    this.cache.set(id, stored);
    return stored;
  }

  /** A definition by id, or not_found. */
  async get(id: string): Promise<StoredWorkflow> {
    const stored = await this.find(id);
    if (!stored) throw workflowNotFound(id);
    return stored;
  }

  /** Every definition: shipped ones first, then those created over the API (by id). */
  async list(): Promise<StoredWorkflow[]> {
    let raw: Record<string, string>;
    try {
      raw = await this.redis.client.hgetall(this.key);
    } catch (err) {
      throw redisUnavailable(err);
    }
    const created = Object.keys(raw)
      .sort()
      .slice(0, LIST_LIMIT)
      .map((id) => JSON.parse(raw[id]!) as StoredWorkflow);
    return [...this.fromConfig.values(), ...created];
  }
}

function onlyUnknownModels(err: unknown): err is WorkflowDefinitionError {
  return (
    err instanceof WorkflowDefinitionError && err.problems.every((p) => p.message.startsWith('unknown model'))
  );
}

/** A slug of the name (or `workflow`) and a random suffix. */
function madeUpId(name: unknown): string {
  const slug =
    typeof name === 'string'
      ? name
          .toLowerCase()
          .replace(/[^a-z0-9]+/g, '-')
          .replace(/^-+|-+$/g, '')
          .slice(0, 40)
      : '';
  return `${slug || 'workflow'}-${randomBytes(4).toString('hex')}`;
}

export function workflowNotFound(id: string): WorkflowError {
  return new WorkflowError(RequestErrorCode.NotFound, `No workflow '${id.slice(0, 128)}'.`, {
    param: 'workflowId',
  });
}

function taken(id: string): WorkflowError {
  return new WorkflowError(RequestErrorCode.Conflict, `A workflow '${id}' exists already; pick another id.`, {
    param: 'id',
  });
}
