import { WalError } from '@walstream/core';
import {
  booleanOption,
  checkKnownKeys,
  functionOption,
  integerOption,
  numberOption,
  oneOfOption,
  stringOption,
} from '@walstream/core/internal';
import { describe, expect, it } from 'vitest';

/** The INVALID_ARGUMENT `fn` throws; checks the shape every option error shares. */
function rejected(fn: () => unknown, option: string | undefined): WalError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(WalError.is(caught), `expected a WalError, got ${String(caught)}`).toBe(true);
  const error = caught as WalError;
  expect(error.code).toBe('INVALID_ARGUMENT');
  expect(error.retriable).toBe(false);
  expect(error.details.option).toBe(option);
  expect(error.message.startsWith('f: ')).toBe(true);
  return error;
}

describe('option checks', () => {
  it('checkKnownKeys: absent is fine; not a plain object is refused, naming the nested option', () => {
    expect(() => checkKnownKeys('f', undefined, ['a'])).not.toThrow();
    expect(() => checkKnownKeys('f', { a: 1 }, ['a'])).not.toThrow();
    expect(rejected(() => checkKnownKeys('f', [], ['a']), undefined).message).toBe(
      'f: options must be an object, got an array',
    );
    expect(rejected(() => checkKnownKeys('f', null, ['a']), undefined).message).toBe(
      'f: options must be an object, got null',
    );
    expect(rejected(() => checkKnownKeys('f', 'x', ['a'], 'timeTick.'), 'timeTick').message).toBe(
      'f: option timeTick must be an object, got "x"',
    );
  });

  it('checkKnownKeys: an unknown key is named with its prefix, and the known ones are listed', () => {
    const error = rejected(() => checkKnownKeys('f', { a: 1, bb: 2 }, ['a', 'b'], 'nested.'), 'nested.bb');
    expect(error.message).toBe('f: unknown option nested.bb (known: nested.a, nested.b)');
  });

  it('integerOption: the fallback when absent; within the range, bounds included; says the range it wanted', () => {
    expect(integerOption('f', 'n', undefined, 5)).toBe(5);
    expect(integerOption('f', 'n', 1, 5)).toBe(1);
    expect(integerOption('f', 'n', 10, 5, { min: 0, max: 10 })).toBe(10);
    expect(integerOption('f', 'n', 0, 5, { min: 0, max: 10 })).toBe(0);
    expect(rejected(() => integerOption('f', 'n', 0, 5), 'n').message).toBe(
      'f: option n must be an integer ≥ 1, got 0',
    );
    expect(rejected(() => integerOption('f', 'n', 11, 5, { min: 0, max: 10 }), 'n').message).toBe(
      'f: option n must be an integer between 0 and 10, got 11',
    );
    rejected(() => integerOption('f', 'n', 1.5, 5), 'n');
    rejected(() => integerOption('f', 'n', '3', 5), 'n');
    rejected(() => integerOption('f', 'n', Number.POSITIVE_INFINITY, 5), 'n');
  });

  it('numberOption: finite and ≥ min, min included', () => {
    expect(numberOption('f', 'x', undefined, 2.5)).toBe(2.5);
    expect(numberOption('f', 'x', 0, 1)).toBe(0);
    expect(numberOption('f', 'x', 0.5, 1, 0.5)).toBe(0.5);
    expect(rejected(() => numberOption('f', 'x', 0.4, 1, 0.5), 'x').message).toBe(
      'f: option x must be a finite number ≥ 0.5, got 0.4',
    );
    rejected(() => numberOption('f', 'x', Number.NaN, 1), 'x');
    rejected(() => numberOption('f', 'x', Number.POSITIVE_INFINITY, 1), 'x');
    rejected(() => numberOption('f', 'x', 1n, 1), 'x');
  });

  it('booleanOption, oneOfOption, functionOption, stringOption', () => {
    expect(booleanOption('f', 'b', undefined, true)).toBe(true);
    expect(booleanOption('f', 'b', false, true)).toBe(false);
    expect(rejected(() => booleanOption('f', 'b', 'yes', true), 'b').message).toBe(
      'f: option b must be true or false, got "yes"',
    );

    expect(oneOfOption('f', 'mode', undefined, ['a', 'b'], 'a')).toBe('a');
    expect(oneOfOption('f', 'mode', 'b', ['a', 'b'], 'a')).toBe('b');
    expect(rejected(() => oneOfOption('f', 'mode', 'c', ['a', 'b'], 'a'), 'mode').message).toBe(
      'f: option mode must be one of "a", "b", got "c"',
    );
    rejected(() => oneOfOption('f', 'mode', 1, ['a', 'b'], 'a'), 'mode');

    const fn = () => 1;
    expect(functionOption('f', 'cb', undefined)).toBeUndefined();
    expect(functionOption('f', 'cb', fn)).toBe(fn);
    expect(rejected(() => functionOption('f', 'cb', {}), 'cb').message).toBe(
      'f: option cb must be a function, got an object',
    );

    expect(stringOption('f', 's', undefined, 'dflt')).toBe('dflt');
    expect(stringOption('f', 's', '', 'dflt')).toBe('');
    expect(rejected(() => stringOption('f', 's', '', 'dflt', false), 's').message).toBe(
      'f: option s must be a non-empty string, got ""',
    );
    expect(rejected(() => stringOption('f', 's', 12n, 'dflt'), 's').message).toBe(
      'f: option s must be a string, got 12n',
    );
  });
});
