export * from './errors.js';
export * from './hashes.js';
export * from './submission.schema.js';
export * from './sample.schema.js';
export * from './auth.schema.js';
export * from './jobs.js';
export * from './analyst.schema.js';
