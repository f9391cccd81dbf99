// A small namespace-aware XML reader for tests: WSDLs and SOAP envelopes only (elements,
// attributes, text, comments, processing instructions, CDATA). Throws on mismatched tags.

export interface XmlNode {
  /** The qualified name as written, e.g. `xs:element`. */
  readonly qname: string;
  readonly local: string;
  /** The resolved namespace URI; undefined when the element is in no namespace. */
  readonly ns: string | undefined;
  readonly attrs: Readonly<Record<string, string>>;
  readonly children: XmlNode[];
  text: string;
  /** Prefix -> URI in scope ('' for the default namespace). */
  readonly scope: ReadonlyMap<string, string>;
}

const TOKEN =
  /<!--[\s\S]*?-->|<\?[\s\S]*?\?>|<!\[CDATA\[([\s\S]*?)\]\]>|<(\/?)([A-Za-z_][\w.:-]*)((?:\s+[^\s=>/]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>|([^<]+)/g;
const ATTR = /([^\s=>/]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g;

function unescape(s: string): string {
  return s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&#(\d+);/g, (_m, d: string) => String.fromCodePoint(Number(d)))
    .replace(/&amp;/g, '&');
}

export function parseXml(xml: string): XmlNode {
  const stack: XmlNode[] = [];
  let root: XmlNode | undefined;
  let consumed = 0;
  for (const m of xml.matchAll(TOKEN)) {
    if (m.index !== consumed) throw new Error(`unparsable XML at offset ${consumed}`);
    consumed = m.index + m[0].length;
    const top = stack.at(-1);
    if (m[1] !== undefined) {
      if (top) top.text += m[1];
      continue;
    }
    if (m[6] !== undefined) {
      if (top) top.text += unescape(m[6]);
      else if (m[6].trim() !== '') throw new Error('text outside the root element');
      continue;
    }
    const qname = m[3];
    if (qname === undefined) continue; // comment or processing instruction
    if (m[2] === '/') {
      const open = stack.pop();
      if (open?.qname !== qname) throw new Error(`</${qname}> closes <${open?.qname ?? ''}>`);
      continue;
    }
    const attrs: Record<string, string> = {};
    for (const a of (m[4] ?? '').matchAll(ATTR)) attrs[a[1]!] = unescape(a[2] ?? a[3] ?? '');
    const scope = new Map(top?.scope ?? []);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === 'xmlns') scope.set('', v);
      else if (k.startsWith('xmlns:')) scope.set(k.slice(6), v);
    }
    const colon = qname.indexOf(':');
    const prefix = colon < 0 ? '' : qname.slice(0, colon);
    const local = colon < 0 ? qname : qname.slice(colon + 1);
    const ns = scope.get(prefix);
    if (colon >= 0 && ns === undefined) throw new Error(`undeclared prefix ${prefix}`);
    const node: XmlNode = {
      qname,
      local,
      ns: ns === '' ? undefined : ns,
      attrs,
      children: [],
      text: '',
      scope,
    };
    if (top) top.children.push(node);
    else if (root) throw new Error('two root elements');
    else root = node;
    if (m[5] !== '/') stack.push(node);
  }
  if (consumed !== xml.length || stack.length > 0 || !root) throw new Error('truncated XML');
  return root;
}

/** Resolves a QName-valued attribute (e.g. `type="tns:amount"`) in the scope of `node`. */
export function resolveQName(
  node: XmlNode,
  value: string,
): { ns: string | undefined; local: string } {
  const colon = value.indexOf(':');
  const prefix = colon < 0 ? '' : value.slice(0, colon);
  const ns = node.scope.get(prefix);
  return { ns: ns === '' ? undefined : ns, local: colon < 0 ? value : value.slice(colon + 1) };
}

/** Every descendant (depth first) of `node`, including itself. */
export function walk(node: XmlNode): XmlNode[] {
  return [node, ...node.children.flatMap(walk)];
}

/** Children of `node` with this namespace and local name. */
export function childrenNamed(node: XmlNode, ns: string, local: string): XmlNode[] {
  return node.children.filter((c) => c.ns === ns && c.local === local);
}
