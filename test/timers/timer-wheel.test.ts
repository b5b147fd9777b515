import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { ManualClock, TimerWheel } from '../../src/index.js';
import type { WheelEntry } from '../../src/timers/timer-wheel.js';

function entry(fired: number[]): WheelEntry {
  const e: WheelEntry = {
    wheelNext: null,
    wheelPrev: null,
    wheelSlot: -1,
    wheelDue: 0,
    onWheelDue: (now) => void fired.push(now),
  };
  return e;
}

function wheelAt(start: number, slots = 8) {
  const clock = new ManualClock(start);
  const wheel = new TimerWheel({ tickMs: 100, slots, clock, autoTick: false });
  const step = (ms: number) => {
    for (let t = 0; t < ms; t += 100) {
      clock.advance(100);
      wheel.tick();
    }
  };
  return { clock, wheel, step };
}

describe('timer wheel', () => {
  it('fires an entry at its due time, at most one tick late, never early', () => {
    const { wheel, step } = wheelAt(10_000);
    const fired: number[] = [];
    wheel.schedule(entry(fired), 10_450);
    step(400);
    assert.deepEqual(fired, []);
    step(100);
    assert.deepEqual(fired, [10_500]);
    assert.equal(wheel.size, 0);
  });

  it('fires entries due beyond one turn of the wheel only when their time comes', () => {
    const { wheel, step } = wheelAt(0, 8); // one turn = 800 ms
    const fired: number[] = [];
    wheel.schedule(entry(fired), 2_050);
    step(2_000);
    assert.deepEqual(fired, []);
    step(100);
    assert.deepEqual(fired, [2_100]);
  });

  it('cancels and reschedules without firing the old time', () => {
    const { wheel, step } = wheelAt(0);
    const fired: number[] = [];
    const e = entry(fired);
    wheel.schedule(e, 300);
    wheel.schedule(e, 600);
    step(400);
    assert.deepEqual(fired, []);
    wheel.cancel(e);
    step(400);
    assert.deepEqual(fired, []);
    assert.equal(wheel.size, 0);
  });

  it('scheduleBy only ever moves an entry earlier', () => {
    const { wheel, step } = wheelAt(0);
    const fired: number[] = [];
    const e = entry(fired);
    wheel.schedule(e, 500);
    wheel.scheduleBy(e, 900);
    assert.equal(e.wheelDue, 500);
    wheel.scheduleBy(e, 200);
    step(200);
    assert.deepEqual(fired, [200]);
  });

  it('fires every due entry once when the clock jumps far ahead', () => {
    const { clock, wheel } = wheelAt(0, 8);
    const fired: number[] = [];
    for (let i = 1; i <= 50; i++) wheel.schedule(entry(fired), i * 37);
    clock.advance(10_000);
    wheel.tick();
    assert.equal(fired.length, 50);
    assert.equal(wheel.size, 0);
  });

  it('lets an entry reschedule itself from its own callback', () => {
    const { wheel, step } = wheelAt(0);
    const fired: number[] = [];
    const e = entry(fired);
    e.onWheelDue = (now) => {
      fired.push(now);
      if (fired.length < 3) wheel.schedule(e, now + 200);
    };
    wheel.schedule(e, 200);
    step(1_000);
    assert.deepEqual(fired, [200, 400, 600]);
  });

  it('judges deadlines on fresh stamps when the loop stalls between its interval and its tick', async () => {
    // The interval stamps the time and queues the tick behind the poll, so reads are stamped before the
    // tick judges them. A stall in between (a long callback, the process descheduled) would leave those
    // stamps older than the reads: a connection whose peer never stopped talking would look idle.
    const clock = new ManualClock(0);
    const wheel = new TimerWheel({ tickMs: 5, clock });
    let last = 0;
    const ended: number[] = [];
    const conn = entry(ended);
    conn.onWheelDue = (now) => {
      if (now - last >= 1_000) ended.push(now);
      else wheel.schedule(conn, last + 1_000);
    };
    wheel.schedule(conn, 1_000);
    // Activity every loop turn, stamped as a read stamps it, after the interval and before the tick.
    let talking = true;
    const talk = (): void => {
      last = wheel.now();
      if (talking) setImmediate(talk);
    };
    setImmediate(talk);
    // Same period, started after the wheel's: it runs right after the wheel's interval in the same
    // timers phase. Every tenth run the clock jumps past the idle time, as if the process stalled there.
    let runs = 0;
    let stalls = 0;
    const stall = setInterval(() => {
      if (++runs % 10 === 0 && stalls < 10) {
        stalls++;
        clock.advance(1_500);
      }
    }, 5);
    try {
      for (let i = 0; i < 600 && stalls < 10; i++) await sleep(10);
      await sleep(50);
      assert.equal(stalls, 10);
      assert.deepEqual(ended, [], 'the talking entry never judged idle');
      // The same entry does time out once it falls silent.
      talking = false;
      await sleep(20);
      clock.advance(1_500);
      for (let i = 0; i < 300 && ended.length === 0; i++) await sleep(10);
      assert.equal(ended.length, 1);
    } finally {
      talking = false;
      clearInterval(stall);
      wheel.stop();
    }
  });
});
