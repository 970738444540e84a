export { SpecimenMetrics, type MetricsApp, type QueueGaugeSample } from './metrics.js';
export { checkReadiness, type Readiness } from './health.js';
export { metricsAuthorized } from './metrics-auth.js';
export { ObservabilityModule } from './observability.module.js';
