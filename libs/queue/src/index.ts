export {
  QUEUE_JOBS,
  QueueProducer,
  UnrecoverableError,
  scanJobId,
  startWorker,
  type JobData,
  type JobHandlers,
  type QueueConnection,
} from './queue.js';
export { QueueModule } from './queue.module.js';
export { RulesetPublisher, RulesetSubscriber, rulesetChannel, type RulesetChange } from './ruleset-events.js';
export { RateLimiter, type RateDecision } from './rate-limiter.js';
