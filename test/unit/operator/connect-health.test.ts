import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConnectHealth } from '../../../src/operator/connect-health.ts';

describe('ConnectHealth', () => {
  it('polls at the interval while Connect answers', () => {
    const health = new ConnectHealth({ pollingIntervalMs: 600_000 });
    assert.equal(health.up, undefined);
    assert.equal(health.succeeded(), 'ok');
    assert.equal(health.up, true);
    assert.equal(health.nextDelayMs(), 600_000);
  });

  it('repeats a failed poll soon, doubling, never later than the interval', () => {
    const health = new ConnectHealth({ pollingIntervalMs: 10_000, firstRetryMs: 1000 });
    const delays = [];
    for (let poll = 0; poll < 6; poll += 1) {
      health.failed();
      delays.push(health.nextDelayMs());
    }
    assert.deepEqual(delays, [1000, 2000, 4000, 8000, 10_000, 10_000]);
    health.succeeded();
    assert.equal(health.nextDelayMs(), 10_000);
  });

  it('tells the first failure and the recovery apart, so items are told once each way', () => {
    const health = new ConnectHealth({ pollingIntervalMs: 1000 });
    assert.deepEqual(
      [health.failed(), health.failed(), health.succeeded(), health.succeeded(), health.failed()],
      ['failed-first', 'failed-again', 'recovered', 'ok', 'failed-first'],
    );
  });

  it('turns unready only after several failures in a row, ready again after one success', () => {
    const health = new ConnectHealth({ pollingIntervalMs: 1000, unreadyAfterFailures: 3 });
    health.failed();
    assert.equal(health.notReady(), undefined);
    health.succeeded();
    health.failed();
    health.failed();
    assert.equal(health.notReady(), undefined);
    health.failed();
    assert.match(health.notReady() ?? '', /Connect unreachable for the last 3 polls/);
    const serviceAccount = new ConnectHealth({ pollingIntervalMs: 1000, sourceName: '1Password' });
    for (let failure = 0; failure < 3; failure += 1) serviceAccount.failed();
    assert.equal(serviceAccount.notReady(), '1Password unreachable for the last 3 polls');
    assert.equal(health.up, false);
    health.succeeded();
    assert.equal(health.notReady(), undefined);
  });
});
