/** The table formatter: capital headers, left-aligned columns two spaces apart, "-" for missing cells. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatTable } from '../../src/cli/table.ts';

void describe('formatTable', () => {
  void it('aligns columns to the widest cell and trims line ends', () => {
    const t = formatTable(
      ['topic', 'partition', 'leader'],
      [
        ['orders', 0, 1],
        ['a-much-longer-name', 12, null],
      ],
    );
    assert.equal(
      t,
      [
        'TOPIC               PARTITION  LEADER',
        'orders              0          1',
        'a-much-longer-name  12         -',
      ].join('\n'),
    );
  });

  void it('prints only the header for no rows', () => {
    assert.equal(formatTable(['name', 'value'], []), 'NAME  VALUE');
  });

  void it('keeps an empty last cell from leaving trailing spaces', () => {
    assert.equal(formatTable(['a', 'b'], [['x', '']]), 'A  B\nx');
  });
});
