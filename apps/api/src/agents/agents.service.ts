import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { CONFIG, type Config, pseudonym } from '#config';
import {
  type AgentPage,
  type AgentView,
  ConsentRequest,
  type ConsentView,
  CreateEnrollmentTokenRequest,
  type Enrolled,
  EnrollRequest,
  type EnrollmentTokenCreated,
  type EnrollmentTokenView,
  JobName,
  QueueName,
  ListAgentsQuery,
  type Principal,
  SpecimenError,
  UUID,
} from '#contracts';
import {
  type AgentRecord,
  AgentsRepository,
  AuditRepository,
  Database,
  OutboxRepository,
  TokensRepository,
} from '#database';

import { hashToken, newToken } from '../auth/auth.js';
import { PrincipalsService } from '../auth/principals.service.js';
import { parseOrThrow } from '../http/validation.js';
import { OutboxDispatcher } from '../jobs/outbox-dispatcher.js';

/** The actor name of what an agent does itself; the agent is the record's target, by pseudonym. */
const AGENT_ACTOR = 'agent';

export function toAgentView(a: AgentRecord): AgentView {
  return {
    id: a.id,
    pseudonym: a.pseudonym,
    product: { name: a.productName, version: a.productVersion },
    os: { family: a.osFamily, version: a.osVersion },
    country: a.country,
    enrolledAt: a.enrolledAt.toISOString(),
    revokedAt: a.revokedAt?.toISOString() ?? null,
    consent: {
      participating: a.participating,
      statementVersion: a.consentStatementVersion,
      changedAt: a.consentChangedAt?.toISOString() ?? null,
      revokedAt: a.consentRevokedAt?.toISOString() ?? null,
    },
  };
}

/** Enrollment, the agent registry and consent. Every change commits with its audit record. */
@Injectable()
export class AgentsService {
  constructor(
    @Inject(OutboxDispatcher) private readonly dispatcher: OutboxDispatcher,
    @Inject(Database) private readonly database: Database,
    @Inject(AgentsRepository) private readonly agents: AgentsRepository,
    @Inject(TokensRepository) private readonly tokens: TokensRepository,
    @Inject(AuditRepository) private readonly audit: AuditRepository,
    @Inject(OutboxRepository) private readonly outbox: OutboxRepository,
    @Inject(CONFIG) private readonly config: Config,
    @Inject(PrincipalsService) private readonly principals: PrincipalsService,
  ) {}

  /** The audit log outlives agents: it names them only by their keyed pseudonym, never by id. */
  private pseudonymOf(agentId: string): string {
    return pseudonym(this.config.auth.pseudonymKey, agentId);
  }

  async createEnrollmentToken(body: unknown, principal: Principal): Promise<EnrollmentTokenCreated> {
    const request = parseOrThrow(CreateEnrollmentTokenRequest, body, 'body');
    const expiresAt =
      request.expiresAt !== undefined
        ? new Date(request.expiresAt)
        : new Date(Date.now() + (request.ttlSeconds ?? 0) * 1000);
    const token = newToken('spe');
    const record = await this.database.transaction(async (tx) => {
      const created = await this.agents.createEnrollmentToken(
        {
          name: request.name ?? null,
          tokenHash: hashToken(token),
          expiresAt,
          maxUses: request.maxUses,
          createdBy: principal.tokenId,
        },
        tx,
      );
      await this.audit.append(
        {
          actorId: principal.tokenId,
          actorName: principal.name,
          action: 'enrollment-token.create',
          targetType: 'enrollment-token',
          targetId: created.id,
          details: {
            name: created.name,
            expiresAt: created.expiresAt.toISOString(),
            maxUses: created.maxUses,
          },
        },
        tx,
      );
      return created;
    });
    return {
      id: record.id,
      name: record.name,
      expiresAt: record.expiresAt.toISOString(),
      maxUses: record.maxUses,
      token,
    };
  }

  /** Every enrollment token, newest first: how many agents each enrolled, and which still can. */
  async listEnrollmentTokens(): Promise<{ items: EnrollmentTokenView[] }> {
    const rows = await this.agents.listEnrollmentTokens();
    return {
      items: rows.map((r) => ({
        id: r.id,
        name: r.name,
        expiresAt: r.expiresAt.toISOString(),
        maxUses: r.maxUses,
        uses: r.uses,
        createdAt: r.createdAt.toISOString(),
        createdBy: r.createdBy,
        revokedAt: r.revokedAt?.toISOString() ?? null,
      })),
    };
  }

  async revokeEnrollmentToken(id: string, principal: Principal): Promise<{ id: string; revokedAt: string }> {
    if (!UUID.test(id)) throw new SpecimenError('NOT_FOUND', 'no such enrollment token');
    const revoked = await this.database.transaction(async (tx) => {
      const row = await this.agents.revokeEnrollmentToken(id, tx);
      if (row === null) return null;
      // A repeat answers the same and adds nothing to the audit log.
      if (!row.revokedNow) return row;
      await this.audit.append(
        {
          actorId: principal.tokenId,
          actorName: principal.name,
          action: 'enrollment-token.revoke',
          targetType: 'enrollment-token',
          targetId: id,
          details: { uses: row.uses, maxUses: row.maxUses },
        },
        tx,
      );
      return row;
    });
    if (revoked === null) throw new SpecimenError('NOT_FOUND', 'no such enrollment token');
    return { id: revoked.id, revokedAt: revoked.revokedAt.toISOString() };
  }

  /**
   * Trades an enrollment token for an agent and its API key. The token use, the agent, its key and the
   * audit record commit together: a failed enrollment uses nothing up.
   */
  async enroll(body: unknown): Promise<Enrolled> {
    const request = parseOrThrow(EnrollRequest, body, 'body');
    const apiKey = newToken('spa');
    return this.database.transaction(async (tx) => {
      const taken = await this.agents.consumeEnrollmentToken(hashToken(request.enrollmentToken), tx);
      if ('refused' in taken) {
        throw new SpecimenError('UNAUTHENTICATED', `the enrollment token is ${taken.refused}`, {
          reason: taken.refused,
        });
      }
      const id = randomUUID();
      const agent = await this.agents.createAgent(
        {
          id,
          pseudonym: this.pseudonymOf(id),
          productName: request.product.name,
          productVersion: request.product.version,
          osFamily: request.os.family,
          osVersion: request.os.version,
          country: request.country ?? null,
          enrollmentTokenId: taken.id,
        },
        tx,
      );
      await this.tokens.create(
        { name: `agent:${agent.id}`, role: 'agent', tokenHash: hashToken(apiKey), agentId: agent.id },
        tx,
      );
      await this.audit.append(
        {
          actorId: null,
          actorName: AGENT_ACTOR,
          action: 'agent.enroll',
          targetType: 'agent',
          targetId: this.pseudonymOf(agent.id),
          details: {
            enrollmentTokenId: taken.id,
            product: request.product,
            os: request.os,
            country: request.country ?? null,
          },
        },
        tx,
      );
      return { agentId: agent.id, apiKey };
    });
  }

  async list(query: unknown): Promise<AgentPage> {
    const { limit, after } = parseOrThrow(ListAgentsQuery, query, 'query');
    const rows = await this.agents.list({ limit: limit + 1, ...(after === undefined ? {} : { after }) });
    const items = rows.slice(0, limit).map(toAgentView);
    return { items, next: rows.length > limit ? (items.at(-1)?.id ?? null) : null };
  }

  async revoke(id: string, principal: Principal): Promise<AgentView> {
    if (!UUID.test(id)) throw new SpecimenError('NOT_FOUND', 'no such agent');
    const agent = await this.database.transaction(async (tx) => {
      const result = await this.agents.revoke(id, tx);
      if (result === null) return null;
      const { agent: revoked, revokedNow } = result;
      // A repeat answers the same and adds nothing to the audit log.
      if (!revokedNow) return revoked;
      await this.audit.append(
        {
          actorId: principal.tokenId,
          actorName: principal.name,
          action: 'agent.revoke',
          targetType: 'agent',
          targetId: this.pseudonymOf(id),
          details: { revokedAt: revoked.revokedAt?.toISOString() ?? null },
        },
        tx,
      );
      return revoked;
    });
    if (agent === null) throw new SpecimenError('NOT_FOUND', 'no such agent');
    // Before the answer: once the admin sees "revoked", no replica accepts the key.
    await this.principals.changed({ agentId: id });
    return toAgentView(agent);
  }

  /**
   * Records the calling agent's consent. A withdrawal commits the consent purge job to the outbox with the
   * change, then enqueues it (the outbox re-drive does it when Redis is down; the scanner's consent sweep
   * also finds the agent by `consent_revoked_at`).
   *
   * `overLimit`: the agent's rate-limit refusal when this call is over its limit. It is answered unless
   * the call withdraws the consent of an agent that was participating: leaving always works.
   */
  async setConsent(
    body: unknown,
    principal: Principal,
    overLimit: SpecimenError | null = null,
  ): Promise<ConsentView> {
    const request = parseOrThrow(ConsentRequest, body, 'body');
    const agentId = principal.agentId;
    if (agentId === undefined) {
      throw new SpecimenError('FORBIDDEN', 'only an enrolled agent has a consent to give');
    }
    if (overLimit !== null && request.participating) throw overLimit;
    const view = await this.changeConsent({
      agentId,
      pseudonym: principal.pseudonym,
      participating: request.participating,
      statementVersion: request.statementVersion,
      actor: { actorId: null, actorName: AGENT_ACTOR },
      // Over the limit, a withdrawal that changes nothing (already withdrawn) is refused, and undone.
      refuse: (previous) => (overLimit !== null && !previous.participating ? overLimit : null),
    });
    if (view === null) throw new SpecimenError('UNAUTHENTICATED', 'the agent is unknown');
    return view;
  }

  /**
   * An admin withdraws an agent's consent on its behalf (the agent may be revoked, its key refused): the
   * same stamp, audit record and purge as the agent's own withdrawal, the statement version it agreed to
   * kept. An agent that is not participating is left as it is (no second record, no second purge).
   */
  async withdrawFor(id: string, principal: Principal): Promise<ConsentView> {
    if (!UUID.test(id)) throw new SpecimenError('NOT_FOUND', 'no such agent');
    const agent = await this.agents.findById(id);
    if (agent === null) throw new SpecimenError('NOT_FOUND', 'no such agent');
    if (!agent.participating) {
      return {
        agentId: id,
        participating: false,
        statementVersion: agent.consentStatementVersion,
        changedAt: (agent.consentChangedAt ?? agent.enrolledAt).toISOString(),
      };
    }
    const view = await this.changeConsent({
      agentId: id,
      pseudonym: agent.pseudonym ?? this.pseudonymOf(id),
      participating: false,
      statementVersion: null,
      actor: { actorId: principal.tokenId, actorName: principal.name },
      refuse: () => null,
    });
    if (view === null) throw new SpecimenError('NOT_FOUND', 'no such agent');
    return view;
  }

  /** One consent change: the row, its audit record and (a withdrawal) the purge job, then the job sent. */
  private async changeConsent(input: {
    agentId: string;
    pseudonym: string;
    participating: boolean;
    statementVersion: string | null;
    actor: { actorId: string | null; actorName: string };
    refuse: (previous: { participating: boolean }) => SpecimenError | null;
  }): Promise<ConsentView | null> {
    const { agentId, pseudonym, participating } = input;
    const change = await this.database.transaction(async (tx) => {
      const changed = await this.agents.setConsent(
        { agentId, participating, statementVersion: input.statementVersion },
        tx,
      );
      if (changed === null) return null;
      const refused = input.refuse(changed.previous);
      if (refused !== null) throw refused;
      await this.audit.append(
        {
          ...input.actor,
          action: participating ? 'agent.consent.give' : 'agent.consent.revoke',
          targetType: 'agent',
          targetId: pseudonym,
          details: {
            participating: changed.participating,
            statementVersion: changed.statementVersion,
            previous: changed.previous,
          },
        },
        tx,
      );
      const jobId = `consent-purge-${pseudonym}-${changed.changedAt.getTime()}`;
      const purge = participating
        ? null
        : {
            jobId,
            id: await this.outbox.add(
              {
                queue: QueueName.Maintenance,
                name: JobName.ConsentPurge,
                jobId,
                payload: { agent: pseudonym },
              },
              tx,
            ),
          };
      return { ...changed, purge };
    });
    if (change === null) return null;
    // Before the answer: once the withdrawal is heard of, no replica takes the agent's data.
    await this.principals.changed({ agentId });
    if (change.purge !== null) {
      await this.dispatcher.dispatch(
        { queue: QueueName.Maintenance, name: JobName.ConsentPurge, data: { agent: pseudonym } },
        change.purge.jobId,
        change.purge.id,
      );
    }
    return {
      agentId,
      participating: change.participating,
      statementVersion: change.statementVersion,
      changedAt: change.changedAt.toISOString(),
    };
  }
}
