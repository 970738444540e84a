import '../test/dom.js';
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { MantineProvider } from '@mantine/core';
import { cleanup, fireEvent, render, screen } from '@testing-library/react';
import { MatchStrings, STRINGS_SHOWN } from './MatchStrings.js';

const strings = (count: number) => (
  <MantineProvider>
    <MatchStrings count={count}>
      {(shown) =>
        Array.from({ length: shown }, (_, i) => (
          <span key={i} data-testid="string">
            $s @ {i}
          </span>
        ))
      }
    </MatchStrings>
  </MantineProvider>
);

describe('MatchStrings', () => {
  afterEach(() => cleanup());

  it('shows a rule matching everywhere as its first strings and a button for all of them', () => {
    render(strings(2_000));
    assert.equal(screen.getAllByTestId('string').length, STRINGS_SHOWN);
    fireEvent.click(screen.getByRole('button', { name: 'Show all 2000' }));
    assert.equal(screen.getAllByTestId('string').length, 2_000);
    fireEvent.click(screen.getByRole('button', { name: 'Show fewer' }));
    assert.equal(screen.getAllByTestId('string').length, STRINGS_SHOWN);
  });

  it('shows a few strings without a button', () => {
    render(strings(3));
    assert.equal(screen.getAllByTestId('string').length, 3);
    assert.equal(screen.queryByTestId('all-strings'), null);
  });
});
