// A small, strict-about-syntax, lenient-about-structure XML reader for SOAP requests. It checks
// well-formedness (matched tags, quoted attributes, known entities, one root), resolves namespace
// prefixes, and refuses DOCTYPE so no entity expansion can happen. Structure is the caller's
// business: children are looked up by local name, in any order, prefixed or not (API.md §4).

/** One parsed element. `ns` is the resolved namespace URI, undefined when none is in scope. */
export interface XmlElement {
  readonly local: string;
  readonly ns: string | undefined;
  readonly attributes: ReadonlyMap<string, string>;
  readonly children: readonly XmlElement[];
  /** Concatenated character data directly inside this element (CDATA included). */
  readonly text: string;
}

/** The input is not well-formed XML; `offset` is the character position of the problem. */
export class XmlSyntaxError extends Error {
  readonly offset: number;
  constructor(message: string, offset: number) {
    super(`${message} at offset ${offset}`);
    this.name = 'XmlSyntaxError';
    this.offset = offset;
  }
}

const NAME =
  /[A-Za-z_\u00C0-\uFFEF][\w.\-\u00B7\u00C0-\uFFEF]*(?::[A-Za-z_\u00C0-\uFFEF][\w.\-\u00B7\u00C0-\uFFEF]*)?/y;
const ENTITIES: Readonly<Record<string, string>> = {
  lt: '<',
  gt: '>',
  amp: '&',
  quot: '"',
  apos: "'",
};

interface Building {
  qname: string;
  local: string;
  ns: string | undefined;
  attributes: Map<string, string>;
  children: XmlElement[];
  text: string;
  scope: ReadonlyMap<string, string>;
}

function decodeEntities(raw: string, offset: number): string {
  return raw.replace(/&([^;&<]*);?/g, (whole, body: string, at: number) => {
    if (!whole.endsWith(';')) throw new XmlSyntaxError('unterminated entity', offset + at);
    if (body.startsWith('#x') || body.startsWith('#X')) {
      const code = Number.parseInt(body.slice(2), 16);
      if (!/^[0-9a-fA-F]+$/.test(body.slice(2)) || code > 0x10ffff)
        throw new XmlSyntaxError('bad character reference', offset + at);
      return String.fromCodePoint(code);
    }
    if (body.startsWith('#')) {
      const code = Number.parseInt(body.slice(1), 10);
      if (!/^\d+$/.test(body.slice(1)) || code > 0x10ffff)
        throw new XmlSyntaxError('bad character reference', offset + at);
      return String.fromCodePoint(code);
    }
    const named = ENTITIES[body];
    if (named === undefined) throw new XmlSyntaxError(`unknown entity &${body};`, offset + at);
    return named;
  });
}

function splitName(qname: string): { prefix: string; local: string } {
  const colon = qname.indexOf(':');
  return colon < 0
    ? { prefix: '', local: qname }
    : { prefix: qname.slice(0, colon), local: qname.slice(colon + 1) };
}

/**
 * Parses `source` into its root element. Throws {@link XmlSyntaxError} for anything that is not
 * well-formed, for a DOCTYPE, and for an undeclared namespace prefix.
 */
export function parseXml(source: string): XmlElement {
  let pos = source.charCodeAt(0) === 0xfeff ? 1 : 0;
  const stack: Building[] = [];
  let root: XmlElement | undefined;

  const fail = (message: string): never => {
    throw new XmlSyntaxError(message, pos);
  };
  const skipSpace = (): void => {
    while (pos < source.length && /\s/.test(source.charAt(pos))) pos++;
  };
  const readName = (): string => {
    NAME.lastIndex = pos;
    const match = NAME.exec(source);
    if (!match) return fail('expected a name');
    pos += match[0].length;
    return match[0];
  };
  const skipPast = (terminator: string, what: string): string => {
    const end = source.indexOf(terminator, pos);
    if (end < 0) fail(`unterminated ${what}`);
    const body = source.slice(pos, end);
    pos = end + terminator.length;
    return body;
  };

  while (pos < source.length) {
    const top = stack.at(-1);
    if (source.charAt(pos) !== '<') {
      const next = source.indexOf('<', pos);
      const end = next < 0 ? source.length : next;
      const raw = source.slice(pos, end);
      if (top) top.text += decodeEntities(raw, pos);
      else if (raw.trim() !== '') fail('text outside the root element');
      pos = end;
      continue;
    }
    if (source.startsWith('<!--', pos)) {
      pos += 4;
      skipPast('-->', 'comment');
    } else if (source.startsWith('<![CDATA[', pos)) {
      if (!top) fail('CDATA outside the root element');
      pos += 9;
      const data = skipPast(']]>', 'CDATA section');
      if (top) top.text += data;
    } else if (source.startsWith('<!', pos)) {
      fail('DOCTYPE and declarations are not accepted');
    } else if (source.startsWith('<?', pos)) {
      pos += 2;
      skipPast('?>', 'processing instruction');
    } else if (source.startsWith('</', pos)) {
      pos += 2;
      const qname = readName();
      skipSpace();
      if (source.charAt(pos) !== '>') fail('expected > after the end tag name');
      pos++;
      const open = stack.pop();
      if (!open) return fail(`end tag </${qname}> without a start tag`);
      if (open.qname !== qname) fail(`end tag </${qname}> does not match <${open.qname}>`);
      const done: XmlElement = {
        local: open.local,
        ns: open.ns,
        attributes: open.attributes,
        children: open.children,
        text: open.text,
      };
      const parent = stack.at(-1);
      if (parent) parent.children.push(done);
      else root = done;
    } else {
      if (root) fail('a second root element');
      pos++;
      const qname = readName();
      const rawAttributes = new Map<string, string>();
      for (;;) {
        const before = pos;
        skipSpace();
        const c = source.charAt(pos);
        if (c === '>' || c === '/') break;
        if (pos === before) fail('expected whitespace between attributes');
        const name = readName();
        skipSpace();
        if (source.charAt(pos) !== '=') fail('expected = after an attribute name');
        pos++;
        skipSpace();
        const quote = source.charAt(pos);
        if (quote !== '"' && quote !== "'") fail('attribute value not quoted');
        pos++;
        const valueAt = pos;
        const value = skipPast(quote, 'attribute value');
        if (value.includes('<')) fail('< inside an attribute value');
        if (rawAttributes.has(name)) fail(`duplicate attribute ${name}`);
        rawAttributes.set(name, decodeEntities(value, valueAt));
      }
      const selfClosing = source.charAt(pos) === '/';
      if (selfClosing) {
        pos++;
        if (source.charAt(pos) !== '>') fail('expected > after /');
      }
      pos++;
      const scope = new Map(top ? top.scope : []);
      const attributes = new Map<string, string>();
      for (const [name, value] of rawAttributes) {
        if (name === 'xmlns') scope.set('', value);
        else if (name.startsWith('xmlns:')) scope.set(name.slice(6), value);
        else attributes.set(name, value);
      }
      const { prefix, local } = splitName(qname);
      const ns = scope.get(prefix);
      if (prefix !== '' && ns === undefined) fail(`undeclared namespace prefix ${prefix}`);
      const element: Building = {
        qname,
        local,
        ns: ns === '' ? undefined : ns,
        attributes,
        children: [],
        text: '',
        scope,
      };
      if (selfClosing) {
        const done: XmlElement = { local, ns: element.ns, attributes, children: [], text: '' };
        if (top) top.children.push(done);
        else root = done;
      } else {
        stack.push(element);
      }
    }
  }
  const unclosed = stack.at(-1);
  if (unclosed) fail(`<${unclosed.qname}> is not closed`);
  if (!root) return fail('no root element');
  return root;
}

/** The first child named `local` (any prefix or namespace), or undefined. */
export function child(element: XmlElement | undefined, local: string): XmlElement | undefined {
  return element?.children.find((c) => c.local === local);
}

/** Every child named `local`, in document order. */
export function childrenNamed(element: XmlElement | undefined, local: string): XmlElement[] {
  return element ? element.children.filter((c) => c.local === local) : [];
}

/** The trimmed text of the first child named `local`; undefined when absent or empty. */
export function childText(element: XmlElement | undefined, local: string): string | undefined {
  const text = child(element, local)?.text.trim();
  return text === undefined || text === '' ? undefined : text;
}

/** Escapes text for element content and double-quoted attribute values. */
export function escapeXml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}
