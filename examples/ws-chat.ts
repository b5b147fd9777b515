/**
 * Browser chat with rooms, on WebSocket pub/sub: open http://127.0.0.1:7081/,
 * pick a name and a room, and talk to everyone in that room. The page is
 * served by the WebSocket server's `request` hook; the chat is one endpoint,
 * `/chat?room=<room>&name=<name>`, where each socket subscribes to its room's
 * topic and every message is published to it, framed once for all members.
 *
 *   npx tsc -p . && node dist/examples/ws-chat.js [port]      (default 7081; 0 picks a free port)
 *
 * Wire format, server to browser, one JSON object per message:
 *   { "type": "message", "room": "lobby", "from": "ann", "text": "hi" }
 *   { "type": "presence", "room": "lobby", "name": "bob", "event": "join" | "leave", "members": 2 }
 * Browser to server: the text of a chat line (at most 2 KiB).
 *
 * In your own project, import from 'capstan' instead of '../src/index.js'.
 */
import { listen, websocket, type WebSocket } from '../src/index.js';

interface Member {
  name: string;
  room: string;
}

const NAME = /^[\p{L}\p{N} _.-]{1,24}$/u;
const ROOM = /^[a-z0-9-]{1,32}$/;
const topic = (room: string) => `room:${room}`;

const chat = websocket<Member>({
  endpoints: [
    {
      path: '/chat',
      maxMessageBytes: 2048,
      // Who and where come from the upgrade's query; a bad one is refused before the socket opens.
      upgrade(req) {
        const q = new URLSearchParams(req.query);
        const name = (q.get('name') ?? '').trim();
        const room = q.get('room') ?? 'lobby';
        if (!NAME.test(name)) return { status: 400, body: 'name: 1-24 letters, digits, spaces, _ . -\n' };
        if (!ROOM.test(room)) return { status: 400, body: 'room: 1-32 of a-z, 0-9, -\n' };
        return { data: { name, room } };
      },
      handler: {
        open(ws) {
          ws.subscribe(topic(ws.data.room));
          presence(ws, 'join');
        },
        message(ws, data) {
          const text = data.toString().trim();
          if (text === '') return;
          chat.publish(topic(ws.data.room), JSON.stringify({ type: 'message', room: ws.data.room, from: ws.data.name, text }));
        },
        close(ws) {
          // The socket leaves its topics after this handler, so the count still includes it.
          presence(ws, 'leave');
        },
      },
    },
  ],
  request(req) {
    if (req.method === 'GET' && req.path === '/') return { headers: { 'Content-Type': 'text/html; charset=utf-8' }, body: PAGE };
    return { status: 404, body: 'not found: open / in a browser\n' };
  },
});

function presence(ws: WebSocket<Member>, event: 'join' | 'leave'): void {
  const t = topic(ws.data.room);
  const members = chat.subscribers(t) - (event === 'leave' ? 1 : 0);
  chat.publish(t, JSON.stringify({ type: 'presence', room: ws.data.room, name: ws.data.name, event, members }));
}

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Capstan chat</title>
<style>
 body { font: 15px system-ui, sans-serif; margin: 2em auto; max-width: 40em; }
 #log { border: 1px solid #ccc; height: 20em; overflow-y: auto; padding: .5em; }
 #log .presence { color: #777; font-style: italic; }
 form { display: flex; gap: .5em; margin: .5em 0; }
 input[name=text] { flex: 1; }
</style></head>
<body>
<h1>Capstan chat</h1>
<form id="join"><input name="name" placeholder="your name" required maxlength="24">
<input name="room" placeholder="room" value="lobby" required pattern="[a-z0-9-]{1,32}"><button>Join</button></form>
<p id="status">not connected</p>
<div id="log" aria-live="polite"></div>
<form id="say"><input name="text" placeholder="say something" autocomplete="off" disabled><button disabled>Send</button></form>
<script>
const $ = (s) => document.querySelector(s);
let ws = null;
function line(text, cls) {
  const p = document.createElement('div');
  p.textContent = text;
  if (cls) p.className = cls;
  $('#log').append(p);
  $('#log').scrollTop = 1e9;
}
$('#join').addEventListener('submit', (e) => {
  e.preventDefault();
  if (ws) ws.close(1000);
  const f = new FormData(e.target);
  const q = new URLSearchParams({ name: f.get('name'), room: f.get('room') });
  ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/chat?' + q);
  const me = ws;
  ws.onopen = () => {
    $('#status').textContent = 'in room ' + f.get('room') + ' as ' + f.get('name');
    for (const el of document.querySelectorAll('#say *')) el.disabled = false;
    $('#say input').focus();
  };
  ws.onmessage = (m) => {
    const msg = JSON.parse(m.data);
    if (msg.type === 'message') line(msg.from + ': ' + msg.text, 'message');
    else line(msg.name + (msg.event === 'join' ? ' joined' : ' left') + ' (' + msg.members + ' here)', 'presence');
  };
  ws.onclose = (c) => {
    if (ws !== me) return;
    $('#status').textContent = 'disconnected (' + c.code + ')';
    for (const el of document.querySelectorAll('#say *')) el.disabled = true;
  };
});
$('#say').addEventListener('submit', (e) => {
  e.preventDefault();
  const input = $('#say input');
  if (ws && ws.readyState === WebSocket.OPEN && input.value.trim() !== '') ws.send(input.value);
  input.value = '';
});
</script>
</body></html>
`;

const server = await listen({ port: Number(process.argv[2] ?? 7081), websocket: chat });
const a = server.address as { host: string; port: number };
console.log(`ws-chat listening on http://${a.host}:${a.port}/`);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void server.close({ graceMs: 5_000 }).then(() => process.exit(0)));
}
