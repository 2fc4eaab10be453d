/**
 * Registries: push and pull through an OCI distribution registry (shared/API.md, "Registries").
 * `Store.push` and `Store.pull` delegate to `push` and `pull`.
 */
export { push } from './push.js';
export { pull } from './pull.js';
export { parseReference, formatReference, isLoopback } from './Reference.js';
export type { Reference } from './Reference.js';
export type { Credentials, PullOptions, PushOptions, PushResult, RegistryOptions } from './RegistryOptions.js';
export { RegistryBlockSource, registrySources } from './RegistryBlockSource.js';
