import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { needsLoopbackMulticast, randomGroup } from '../support/multicast.js';
import { runExample } from './spawn-example.js';

describe('examples/multicast-announcer and multicast-listener', () => {
  it('the listener prints each announcement the announcer sends to the group, and the announcer exits when done', async (t) => {
    if (!(await needsLoopbackMulticast(t))) return;
    const group = randomGroup();
    const listener = runExample('multicast-listener', ['0', group, '127.0.0.1']);
    t.after(() => listener.stop());
    const port = (await listener.waitFor(new RegExp(`listening on udp://${group.replace(/\./g, '\\.')}:(\\d+) \\(group ${group.replace(/\./g, '\\.')} on 127\\.0\\.0\\.1\\)\\n`)))[1] as string;
    const announcer = runExample('multicast-announcer', [port, group, '127.0.0.1', '3', '50']);
    t.after(() => announcer.stop());
    const from = (await announcer.waitFor(/announcing to udp:\/\/[\d.]+:\d+ from 127\.0\.0\.1:(\d+)\n/))[1] as string;
    assert.equal(await announcer.exited, 0);
    assert.match(announcer.stdout(), /sent #1\nsent #2\nsent #3\n/);
    const pid = announcer.child.pid as number;
    for (let n = 1; n <= 3; n++) await listener.waitFor(new RegExp(`announcement from 127\\.0\\.0\\.1:${from}: hello #${n} from ${pid}\\n`));
    await listener.stop();
    assert.equal(await listener.exited, 0);
    assert.match(listener.stdout(), new RegExp(`announcer 127\\.0\\.0\\.1:${from} gone \\(shutdown\\) after 3 announcements`));
  });
});
