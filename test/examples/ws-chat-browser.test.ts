/**
 * examples/ws-chat in a real browser: Debian's chromium, driven by
 * playwright-core, loads the page from the `request` hook and chats through
 * it with a second page in the same room, while a `ws` client in another room
 * hears nothing. Under CI=true a missing chromium fails the test; elsewhere it
 * is skipped.
 */
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { chromium, type Browser, type Page } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS, describeInChromium } from '../support/chromium.js';
import { wsConnect, type WsPeer } from '../support/ws-client.js';
import { startServer, type RunningExample } from './spawn-example.js';

const WAIT = { timeout: 30_000 };

describeInChromium('examples/ws-chat in chromium', () => {
  let example: RunningExample;
  let port = 0;
  let browser: Browser;
  let elsewhere: WsPeer;

  before(async () => {
    ({ example, port } = await startServer('ws-chat'));
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 60_000 });
    elsewhere = await wsConnect(`ws://127.0.0.1:${port}/chat?room=b&name=eve`);
  });

  after(async () => {
    await browser?.close();
    elsewhere?.socket.terminate();
    await example?.stop();
  });

  async function join(name: string, room: string): Promise<Page> {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${port}/`, WAIT);
    await page.fill('#join input[name=name]', name);
    await page.fill('#join input[name=room]', room);
    await page.click('#join button');
    await page.locator('#status', { hasText: `in room ${room} as ${name}` }).waitFor(WAIT);
    return page;
  }

  async function say(page: Page, text: string): Promise<void> {
    await page.fill('#say input', text);
    await page.press('#say input', 'Enter');
  }

  it('carries messages between two pages in one room and not to another room', async () => {
    const ann = await join('ann', 'a');
    const bob = await join('bob', 'a');
    await ann.locator('#log .presence', { hasText: 'bob joined (2 here)' }).waitFor(WAIT);
    await say(ann, 'hello from chromium');
    await bob.locator('#log .message', { hasText: 'ann: hello from chromium' }).waitFor(WAIT);
    await say(bob, 'héllo back, ann');
    await ann.locator('#log .message', { hasText: 'bob: héllo back, ann' }).waitFor(WAIT);
    assert.deepEqual(await ann.locator('#log .message').allTextContents(), ['ann: hello from chromium', 'bob: héllo back, ann']);

    await bob.close();
    await ann.locator('#log .presence', { hasText: 'bob left (1 here)' }).waitFor(WAIT);
    assert.deepEqual(
      elsewhere.messages.map((m) => (JSON.parse(m.data) as { room: string }).room).filter((r) => r !== 'b'),
      [],
      'room b heard nothing from room a',
    );
  });
});
