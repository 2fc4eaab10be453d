import type { Credentials } from '../index.js';

/** Registry credentials from the environment, never from arguments (they would show in `ps`). */
export function registryCredentials(): { auth?: Credentials } {
  const username = process.env['COWSTACK_REGISTRY_USERNAME'];
  const password = process.env['COWSTACK_REGISTRY_PASSWORD'];
  return username === undefined ? {} : { auth: { username, password: password ?? '' } };
}
