/**
 * Multicast over the loopback interface, for tests that need it. Linux
 * delivers multicast on `lo` (joined on 127.0.0.1, sent with
 * IP_MULTICAST_IF 127.0.0.1) even though `lo` lacks the MULTICAST flag; a
 * machine where that fails gets the tests skipped with the reason, except
 * under CI=true, where a skip would hide a test that never ran.
 */
import dgram from 'node:dgram';
import type { TestContext } from 'node:test';

/** A random administratively scoped group (239.255.0.0/16), so concurrent runs on one machine do not hear each other. */
export function randomGroup(): string {
  const n = () => 1 + Math.floor(Math.random() * 254);
  return `239.255.${n()}.${n()}`;
}

let probed: Promise<string | null> | undefined;

/** Null when a datagram sent to a group on 127.0.0.1 reaches a member; else why not. */
function probe(): Promise<string | null> {
  return new Promise((resolve) => {
    const group = randomGroup();
    const member = dgram.createSocket('udp4');
    const sender = dgram.createSocket('udp4');
    let timer: NodeJS.Timeout | undefined;
    const done = (why: string | null) => {
      clearTimeout(timer);
      member.close();
      sender.close();
      resolve(why);
    };
    member.on('message', () => done(null));
    member.on('error', (e) => done(`the member socket failed: ${e.message}`));
    sender.on('error', (e) => done(`the sending socket failed: ${e.message}`));
    member.bind(0, group, () => {
      try {
        member.addMembership(group, '127.0.0.1');
      } catch (e) {
        return done(`joining ${group} on 127.0.0.1 failed: ${(e as Error).message}`);
      }
      sender.bind(0, '127.0.0.1', () => {
        sender.setMulticastInterface('127.0.0.1');
        sender.setMulticastTTL(0);
        sender.send('probe', member.address().port, group);
        timer = setTimeout(() => done(`a datagram sent to ${group} on 127.0.0.1 did not arrive within 2 s`), 2_000);
      });
    });
  });
}

/**
 * True when multicast works over loopback. Otherwise skips the test (or, with
 * CI=true, fails it) with what the machine needs: a loopback that delivers
 * multicast (`ip link set lo multicast on` as root, or a multicast route:
 * `ip route add 239.255.0.0/16 dev lo`).
 */
export async function needsLoopbackMulticast(t: TestContext): Promise<boolean> {
  probed ??= probe();
  const why = await probed;
  if (why === null) return true;
  const message = `multicast over loopback does not work here (${why}); as root, run: ip link set lo multicast on && ip route add 239.255.0.0/16 dev lo`;
  if (process.env.CI === 'true') throw new Error(`${message}. CI must run this test, so this is a failure, not a skip.`);
  t.skip(message);
  return false;
}
