/**
 * The few admin REST calls the adapter needs: topic creation (the binary protocol cannot create a topic
 * without auto-creation), subscriptions, and moving a subscription's cursor (truncation).
 */
import { type ErrorCode, WalError } from '@walstream/core';
import type { MessageIdData } from './commands.js';

export interface TopicName {
  readonly domain: 'persistent' | 'non-persistent';
  readonly tenant: string;
  readonly namespace: string;
  readonly local: string;
}

export function parseTopic(topic: string): TopicName {
  const match = /^(persistent|non-persistent):\/\/([^/]+)\/([^/]+)\/(.+)$/.exec(topic);
  if (!match)
    throw new WalError('INVALID_ARGUMENT', `not a fully qualified Pulsar topic: ${JSON.stringify(topic)}`);
  return {
    domain: match[1] as TopicName['domain'],
    tenant: match[2]!,
    namespace: match[3]!,
    local: match[4]!,
  };
}

export function topicPath(topic: string): string {
  const name = parseTopic(topic);
  return `/admin/v2/${name.domain}/${encodeURIComponent(name.tenant)}/${encodeURIComponent(name.namespace)}/${encodeURIComponent(name.local)}`;
}

function codeFor(status: number): { code: ErrorCode; retriable: boolean } {
  if (status === 404) return { code: 'CHANNEL_NOT_EXIST', retriable: false };
  if (status === 401 || status === 403) return { code: 'UNAVAILABLE', retriable: false };
  if (status === 412 || status === 409) return { code: 'INVALID_ARGUMENT', retriable: false };
  if (status >= 500 || status === 429) return { code: 'UNAVAILABLE', retriable: true };
  return { code: 'INVALID_ARGUMENT', retriable: false };
}

export class PulsarAdmin {
  readonly adminUrl: string;
  readonly timeoutMs: number;

  constructor(adminUrl: string, timeoutMs = 30_000) {
    this.adminUrl = adminUrl.replace(/\/+$/, '');
    this.timeoutMs = timeoutMs;
  }

  /**
   * One call; `accept` lists statuses that count as success besides 2xx (e.g. 409 "already exists").
   * Connection failures reject UNAVAILABLE, slowness TIMEOUT, HTTP errors a code by status.
   */
  async call(method: string, path: string, body?: unknown, accept: readonly number[] = []): Promise<string> {
    let response: Response;
    try {
      response = await fetch(`${this.adminUrl}${path}`, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      const timeout = error instanceof Error && error.name === 'TimeoutError';
      throw new WalError(
        timeout ? 'TIMEOUT' : 'UNAVAILABLE',
        `Pulsar admin ${method} ${path}: ${timeout ? `no answer within ${this.timeoutMs} ms` : (error as Error).message}`,
        { cause: error },
      );
    }
    const text = await response.text().catch(() => '');
    if (response.ok || accept.includes(response.status)) return text;
    const { code, retriable } = codeFor(response.status);
    throw new WalError(
      code,
      `Pulsar admin ${method} ${path}: HTTP ${response.status} ${text.slice(0, 300)}`,
      {
        retriable,
        details: { status: response.status },
      },
    );
  }

  /** Creates a non-partitioned topic; an existing one is fine. */
  async createTopic(topic: string): Promise<void> {
    await this.call('PUT', topicPath(topic), undefined, [409]);
  }

  async deleteTopic(topic: string): Promise<void> {
    await this.call('DELETE', `${topicPath(topic)}?force=true`, undefined, [404]);
  }

  /** Creates a durable subscription at the earliest message; an existing one keeps its position. */
  async createSubscription(topic: string, subscription: string): Promise<void> {
    await this.call(
      'PUT',
      `${topicPath(topic)}/subscription/${encodeURIComponent(subscription)}`,
      { ledgerId: -1, entryId: -1, partitionIndex: -1 },
      [409],
    );
  }

  /** The names of the producers attached to `topic`, from its stats. */
  async publishers(topic: string): Promise<string[]> {
    const stats = JSON.parse(await this.call('GET', `${topicPath(topic)}/stats`)) as {
      publishers?: { producerName?: unknown }[];
    };
    return (stats.publishers ?? []).flatMap((p) =>
      typeof p.producerName === 'string' ? [p.producerName] : [],
    );
  }

  /** Moves a durable subscription so that everything up to and including `id` counts as consumed. */
  async resetCursorAfter(topic: string, subscription: string, id: MessageIdData): Promise<void> {
    await this.call(
      'POST',
      `${topicPath(topic)}/subscription/${encodeURIComponent(subscription)}/resetcursor?isExcluded=true`,
      { ledgerId: Number(id.ledgerId), entryId: Number(id.entryId), partitionIndex: id.partition },
    );
  }
}
