/**
 * The publish backend: what carries a WebSocket server's publishes beyond its
 * own process, and brings back those made elsewhere. The server always
 * delivers a publish to its own subscribers itself, at once; a backend only
 * moves messages between processes.
 *
 * ```
 *  process A                                   process B
 *  publish ─► A's subscribers (now)
 *        └──► backend.publish ─► (IPC, a broker) ─► deliver ─► B's subscribers
 *  first subscriber of t ─► backend.subscribed(t)    (a broker subscribes upstream)
 *  last one gone         ─► backend.unsubscribed(t)
 * ```
 *
 * Implementations: {@link localBackend} (nothing beyond this process: the
 * default for `listen()`), the worker relay of `capstan serve` (every worker's
 * subscribers, through the primary), and later brokers (Redis, NATS) for
 * several hosts. A broker backend subscribes upstream on `subscribed`, must
 * filter out the messages it published itself (they were delivered here
 * already), and keeps each topic's messages in the order `publish` saw them.
 */

/**
 * Hands a message published elsewhere to this process's subscribers of `topic`.
 * @category WebSocket
 */
export type RemoteDelivery = (topic: string, data: Buffer | string, binary: boolean) => void;

/**
 * Carries publishes between processes. See the module comment for the contract.
 * @category WebSocket
 */
export interface PublishBackend {
  /**
   * Called once by the WebSocket server that uses the backend, before anything
   * else: `deliver` is how messages published elsewhere reach its subscribers.
   */
  open(deliver: RemoteDelivery): void;
  /**
   * A message published in this process (already delivered here): carry it to
   * the others, and never back to this process's `deliver`. The caller may not
   * change `data` afterwards. Returns false when the backend dropped it (over
   * its own bound); the server counts that.
   */
  publish(topic: string, data: Buffer | string, binary: boolean): boolean;
  /** This process has its first subscriber of `topic`. */
  subscribed(topic: string): void;
  /** This process's last subscriber of `topic` is gone. */
  unsubscribed(topic: string): void;
  /** The server is done with the backend (its listener stopped): no more deliveries. */
  close(): void;
}

/**
 * A backend that carries nothing: publishes reach this process's subscribers only.
 * @category WebSocket
 */
export function localBackend(): PublishBackend {
  return {
    open() {},
    publish: () => true,
    subscribed() {},
    unsubscribed() {},
    close() {},
  };
}
