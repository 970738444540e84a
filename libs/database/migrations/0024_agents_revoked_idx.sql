-- The retention sweep forgets agents revoked before its cutoff (StewardshipRepository.forgetRevokedAgents):
-- it finds them by this index instead of reading every agent's row each run.
CREATE INDEX "agents_revoked_idx" ON "agents" USING btree ("revoked_at") WHERE "agents"."revoked_at" is not null;
