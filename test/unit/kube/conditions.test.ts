// setCondition/findCondition: lastTransitionTime moves only on a status change; unchanged input returns the same list.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  findCondition,
  isConditionTrue,
  setCondition,
  type Condition,
  type ConditionInput,
  type ConditionStatus,
} from '../../../src/kube/conditions.ts';

const t0 = new Date('2026-11-22T15:04:05.678Z');
const t1 = new Date('2026-11-22T16:00:00.000Z');

const ready: ConditionInput = {
  type: 'Ready',
  status: 'True',
  reason: 'Synced',
  message: 'Secret is up to date',
  observedGeneration: 3,
};

describe('setCondition', () => {
  it('adds a new condition stamped with now, to the second', () => {
    const list = setCondition(undefined, ready, t0);
    assert.deepEqual(list, [{ ...ready, lastTransitionTime: '2026-11-22T15:04:05Z' }]);
  });

  it('appends after the existing conditions of other types, leaving them untouched', () => {
    const first = setCondition(
      [],
      { type: 'Degraded', status: 'False', reason: 'OK', message: '' },
      t0,
    );
    const both = setCondition(first, ready, t1);
    assert.deepEqual(
      both.map((condition) => condition.type),
      ['Degraded', 'Ready'],
    );
    assert.equal(both[0], first[0]);
  });

  it('keeps lastTransitionTime when only reason, message or generation change', () => {
    const before = setCondition(undefined, ready, t0);
    const after = setCondition(
      before,
      { ...ready, reason: 'Refreshed', message: 'item version 7', observedGeneration: 4 },
      t1,
    );
    assert.deepEqual(after, [
      {
        type: 'Ready',
        status: 'True',
        reason: 'Refreshed',
        message: 'item version 7',
        observedGeneration: 4,
        lastTransitionTime: '2026-11-22T15:04:05Z',
      },
    ]);
    assert.notEqual(after, before);
  });

  it('moves lastTransitionTime when the status changes', () => {
    const before = setCondition(undefined, ready, t0);
    const after = setCondition(
      before,
      { ...ready, status: 'False', reason: 'ItemNotFound', message: 'no item "db"' },
      t1,
    );
    assert.equal(findCondition(after, 'Ready')?.lastTransitionTime, '2026-11-22T16:00:00Z');
    assert.equal(findCondition(after, 'Ready')?.status, 'False');
  });

  it('replaces the condition in place, keeping the order', () => {
    let list = setCondition(undefined, { ...ready, type: 'A' }, t0);
    list = setCondition(list, { ...ready, type: 'B' }, t0);
    list = setCondition(list, { ...ready, type: 'C' }, t0);
    list = setCondition(list, { ...ready, type: 'B', status: 'Unknown' }, t1);
    assert.deepEqual(
      list.map((condition) => [condition.type, condition.status]),
      [
        ['A', 'True'],
        ['B', 'Unknown'],
        ['C', 'True'],
      ],
    );
  });

  it('returns the very same list when nothing changes, so callers can skip the status write', () => {
    const list = setCondition(undefined, ready, t0);
    assert.equal(setCondition(list, ready, t1), list);
  });

  it('treats dropping observedGeneration as a change and omits the key', () => {
    const list = setCondition(undefined, ready, t0);
    const { observedGeneration: _dropped, ...withoutGeneration } = ready;
    const next = setCondition(list, withoutGeneration, t1);
    assert.notEqual(next, list);
    assert.equal('observedGeneration' in (next[0] ?? {}), false);
  });

  it('never mutates its input', () => {
    const list: Condition[] = [
      { ...ready, lastTransitionTime: '2026-01-01T00:00:00Z' },
      {
        type: 'Other',
        status: 'True',
        reason: 'X',
        message: '',
        lastTransitionTime: '2026-01-01T00:00:00Z',
      },
    ];
    const snapshot = structuredClone(list);
    setCondition(list, { ...ready, status: 'False' }, t1);
    setCondition(list, { ...ready, type: 'New' }, t1);
    assert.deepEqual(list, snapshot);
  });

  it('keeps one condition per type and moves the time exactly on status changes (any sequence)', () => {
    const statuses: ConditionStatus[] = ['True', 'False', 'Unknown'];
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            type: fc.constantFrom('Ready', 'Synced', 'Degraded'),
            status: fc.constantFrom(...statuses),
            reason: fc.constantFrom('A', 'B'),
          }),
          { maxLength: 30 },
        ),
        (steps) => {
          let list: readonly Condition[] | undefined;
          const lastStatus = new Map<string, ConditionStatus>();
          const lastChange = new Map<string, string>();
          steps.forEach((step, index) => {
            const now = new Date(Date.UTC(2026, 0, 1, 0, 0, index));
            list = setCondition(list, { ...step, message: '' }, now);
            if (lastStatus.get(step.type) !== step.status) {
              lastStatus.set(step.type, step.status);
              lastChange.set(step.type, now.toISOString().replace('.000Z', 'Z'));
            }
          });
          const types = (list ?? []).map((condition) => condition.type);
          return (
            new Set(types).size === types.length &&
            types.length === lastStatus.size &&
            (list ?? []).every(
              (condition) =>
                condition.status === lastStatus.get(condition.type) &&
                condition.lastTransitionTime === lastChange.get(condition.type),
            )
          );
        },
      ),
    );
  });
});

describe('findCondition / isConditionTrue', () => {
  const list = setCondition(
    setCondition(undefined, ready, t0),
    { type: 'Degraded', status: 'False', reason: 'OK', message: '' },
    t0,
  );

  it('finds by type', () => {
    assert.equal(findCondition(list, 'Ready')?.reason, 'Synced');
    assert.equal(findCondition(list, 'Missing'), undefined);
    assert.equal(findCondition(undefined, 'Ready'), undefined);
  });

  it('tells whether a condition is True', () => {
    assert.equal(isConditionTrue(list, 'Ready'), true);
    assert.equal(isConditionTrue(list, 'Degraded'), false);
    assert.equal(isConditionTrue(list, 'Missing'), false);
  });
});
