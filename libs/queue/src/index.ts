export {
  QUEUE_JOBS,
  QUEUE_STATES,
  QueueProducer,
  UnrecoverableError,
  postponeJob,
  retrohuntBatchJob,
  retrohuntJobId,
  retroscanBatchJob,
  retroscanCheckJob,
  retroscanCheckJobId,
  retroscanJobId,
  retroscanKey,
  ingestScanJob,
  ingestScanJobId,
  scanJobId,
  startWorker,
  type FailedJob,
  type JobData,
  type JobHandlers,
  type QueueConnection,
  type QueueState,
  type QueueStateStats,
} from './queue.js';
export { ConnectionErrorThrottle, isConnectionFailure } from './connection-errors.js';
export { QueueModule } from './queue.module.js';
export { RulesetPublisher, RulesetSubscriber, rulesetChannel, type RulesetChange } from './ruleset-events.js';
export {
  PrincipalEvents,
  principalChannel,
  type Delivery,
  type PrincipalChange,
  type PrincipalEventsHandlers,
} from './principal-events.js';
export { RateLimiter, type RateDecision } from './rate-limiter.js';
export { RedisCircuit } from './redis-circuit.js';

// Every process that queues or works jobs loads ioredis (through BullMQ and the modules above), which leaves
// String.prototype slow; the imports above have run by now (see string-prototype.ts).
import { restoreFastStringPrototype } from './string-prototype.js';
restoreFastStringPrototype();
