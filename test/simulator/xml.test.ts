import { describe, expect, it } from 'vitest';
import {
  XmlSyntaxError,
  child,
  childText,
  childrenNamed,
  escapeXml,
  parseXml,
} from '../../simulator/xml.js';

describe('parseXml', () => {
  it('resolves namespaces, prefixes and defaults, and reads text, CDATA and references', () => {
    const root = parseXml(
      `<?xml version="1.0"?><a:root xmlns:a="urn:a" xmlns="urn:d" k='v&amp;w'><b>x &lt; y</b><a:c><![CDATA[<raw>]]>&#65;&#x42;</a:c><b/><e xmlns="">z</e></a:root>`,
    );
    expect([root.local, root.ns, root.attributes.get('k')]).toEqual(['root', 'urn:a', 'v&w']);
    expect(childText(root, 'b')).toBe('x < y');
    expect(child(root, 'b')!.ns).toBe('urn:d');
    expect(child(root, 'c')!.text).toBe('<raw>AB');
    expect(childrenNamed(root, 'b')).toHaveLength(2);
    expect(child(root, 'e')!.ns).toBeUndefined();
  });

  it.each([
    ['<a><b></a></b>', /does not match/],
    ['<a>', /not closed/],
    ['<a/><b/>', /second root/],
    ['<a x=1/>', /not quoted/],
    ['<a>&nbsp;</a>', /unknown entity/],
    ['<p:a/>', /undeclared namespace prefix/],
    ['<!DOCTYPE a><a/>', /DOCTYPE/],
    ['text', /outside the root/],
    ['', /no root/],
    ['<a x="1" x="2"/>', /duplicate attribute/],
  ])('rejects %s', (source, message) => {
    expect(() => parseXml(source)).toThrow(XmlSyntaxError);
    expect(() => parseXml(source)).toThrow(message);
  });

  it('escapes text for content and attributes', () => {
    expect(escapeXml(`<a b="c">&`)).toBe('&lt;a b=&quot;c&quot;&gt;&amp;');
    expect(parseXml(`<r>${escapeXml('1 < 2 & "q"')}</r>`).text).toBe('1 < 2 & "q"');
  });
});
