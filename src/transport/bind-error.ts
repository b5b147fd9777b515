/** The error `listen` rejects with when the address cannot be bound, with what to do about it. */
import { capstanError, type CapstanError } from '../errors.js';

export function bindFailed(name: string, where: string, err: NodeJS.ErrnoException): CapstanError {
  const hint =
    err.code === 'EADDRINUSE'
      ? 'the address is in use: stop the other server or choose another port'
      : err.code === 'EACCES'
        ? 'permission denied: ports below 1024 need privileges'
        : err.code === 'EADDRNOTAVAIL'
          ? 'no local interface has that address'
          : err.message;
  return capstanError('ERR_LISTEN_FAILED', `listen ${name}: cannot bind ${where}: ${hint}`, { cause: err });
}
