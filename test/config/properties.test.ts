import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseProperties, propertiesToRecord, stringifyProperties } from '../../src/config/properties.ts';

void describe('parseProperties (Java .properties syntax)', () => {
  void it('reads key=value, key: value and key value, skipping comments and blank lines', () => {
    const text = [
      '# a comment',
      '! another comment',
      '',
      '   ',
      'num.partitions=3',
      'log.dirs : /var/lib/runnel',
      'broker.rack  eu-west-1a',
      '  leading.blanks = yes  ',
      'empty.value=',
      'key.only',
    ].join('\n');
    assert.deepEqual(propertiesToRecord(parseProperties(text)), {
      'num.partitions': '3',
      'log.dirs': '/var/lib/runnel',
      'broker.rack': 'eu-west-1a',
      'leading.blanks': 'yes  ',
      'empty.value': '',
      'key.only': '',
    });
  });

  void it('reports the line each entry starts on', () => {
    const entries = parseProperties('# c\r\na=1\r\n\r\nb=2\\\n   3\nc=4');
    assert.deepEqual(
      entries.map((e) => [e.key, e.value, e.line]),
      [
        ['a', '1', 2],
        ['b', '23', 4],
        ['c', '4', 6],
      ],
    );
  });

  void it("joins continuation lines, dropping the next line's leading blanks", () => {
    const text = 'listeners=PLAINTEXT://:9092,\\\n          INTERNAL://:9093\n';
    assert.equal(propertiesToRecord(parseProperties(text)).listeners, 'PLAINTEXT://:9092,INTERNAL://:9093');
  });

  void it('an even number of trailing backslashes is an escaped backslash, not a continuation', () => {
    const r = propertiesToRecord(parseProperties('path=C:\\\\data\\\\\nnext=1'));
    assert.equal(r.path, 'C:\\data\\');
    assert.equal(r.next, '1');
  });

  void it('a continued line starting with # is not a comment', () => {
    assert.equal(propertiesToRecord(parseProperties('a=1\\\n#2')).a, '1#2');
  });

  void it('decodes escapes in keys and values', () => {
    const r = propertiesToRecord(parseProperties('my\\=key\\ x=tab\\there\\nnewline \\u00e9\\q'));
    assert.equal(r['my=key x'], 'tab\there\nnewline \u00e9q');
  });

  void it('keeps the last of duplicate keys', () => {
    assert.equal(propertiesToRecord(parseProperties('a=1\na=2')).a, '2');
  });

  void it('reads back whatever stringifyProperties writes (property)', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ minLength: 1 }), fc.string({ unit: 'binary' })), (record) => {
        assert.deepEqual(propertiesToRecord(parseProperties(stringifyProperties(record))), { ...record });
      }),
      { numRuns: 300 },
    );
  });
});
