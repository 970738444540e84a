export {
  SpecimenClient,
  SpecimenClientError,
  retryDelayMs,
  type ClientOptions,
  type RetryPolicy,
  type SendOptions,
} from './client.js';
export { uploadResumable, type ChunkSource, type ResumableOptions, type ResumableResult } from './tus.js';
